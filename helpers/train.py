"""Training both models: `fit`, with a progress bar, a per-epoch history and a checkpoint cache.

Taught in notebook 01 (a training loop written inline first) and used by notebooks 02-05.

`train_epoch` is the loop of pytorch/examples' vae/main.py: for each batch, the loss, a
gradient step. It is fast because the data never leave the device: each epoch draws a seeded
permutation and slices batches straight out of the image tensor (no DataLoader, no per-sample
collation), and the losses are summed on the device and read back once per epoch, not with
`.item()` every batch. bench/train_speed.py measures it against the recipe and against the
matrix products that no loop can skip.

`fit` adds what a learner needs around that loop: a progress bar, a per-epoch history on the
validation and test images, early stopping on the validation set, a KL warm-up and free bits,
a divergence guard, and the checkpoint cache (helpers.cache).

Losses are in nats per image (see helpers.elbo for the conventions):
``reconstruction`` = -log p(x|z) (positive), ``kl`` = KL(q(z|x) || p(z)) (0 for the
autoencoder), ``loss`` = reconstruction + beta * kl.
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from helpers import cache as checkpoint_cache
from helpers.checks import check_choice, check_int, check_number, check_seed
from helpers.data import BINARIZE, ImageData, batches, binarize, check_images, evaluation_images
from helpers.elbo import bernoulli_log_likelihood, gaussian_kl_per_dim
from helpers.models import VAE, AutoEncoder
from helpers.paths import short

METRICS = ("loss", "reconstruction", "kl")
IMPROVEMENT = 1e-4  # a validation loss improves when it falls by more than this fraction (as in ReduceLROnPlateau)


class TrainingDivergedError(FloatingPointError):
    """The loss became NaN or infinite; the message names the likely cause, and the model holds
    its weights from before the epoch that diverged."""


def _per_split() -> dict[str, list[float]]:
    return {m: [] for m in METRICS}


@dataclass
class History:
    """Per-epoch means over images: ``train["loss"][e]`` during epoch e, ``validation["kl"][e]``
    and ``test["kl"][e]`` after it. ``beta[e]`` is the KL weight of epoch e (it ramps up during
    a warm-up). ``best_epoch`` (counted from 1) is the epoch whose weights the model holds: the
    last one, or with early stopping the one with the lowest validation loss; ``epochs_run``
    is how many epochs ran. ``lr[e]`` is the learning rate of epoch e."""

    train: dict[str, list[float]] = field(default_factory=_per_split)
    test: dict[str, list[float]] = field(default_factory=_per_split)
    validation: dict[str, list[float]] = field(default_factory=_per_split)
    beta: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)
    snapshots: list = field(default_factory=list)
    best_epoch: int = 0
    epochs_run: int = 0
    from_cache: bool = False

    @property
    def seconds(self) -> float:
        return float(sum(self.epoch_seconds))

    def as_dict(self) -> dict:
        d = asdict(self)
        d.pop("from_cache")
        return d


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices): what a notebook does once, at the top."""
    seed = check_seed("seed", seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """"auto" picks cuda, then mps, then cpu; an explicit device must exist."""
    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str) or device.split(":")[0] not in ("auto", "cpu", "cuda", "mps"):
        raise ValueError(f"device={device!r} is not valid; choose one of: 'auto', 'cpu', 'cuda', 'cuda:N', 'mps'")
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was asked for, but CUDA is not available on this machine "
                         "(torch.cuda.is_available() is False); use device='auto' or 'cpu'")
    if device == "mps" and not _mps_available():
        raise ValueError("device='mps' was asked for, but MPS is not available; use device='auto' or 'cpu'")
    return torch.device(device)


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


# --- the loss --------------------------------------------------------------------------------

def loss_terms(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """(reconstruction, kl_per_dim): -log p(x|z) per image, shape (N,), and KL(q(z|x) || p(z))
    per image and latent dimension, shape (N, d) (d = 0 for the autoencoder). One reparameterized
    sample z per image; `y` are the class labels of a conditional model."""
    if isinstance(model, AutoEncoder):
        return -bernoulli_log_likelihood(x, model(x)), x.new_zeros(len(x), 0)
    q = model.encode(x) if y is None else model.encode(x, y)
    z = q.rsample()
    logits = model.decode(z) if y is None else model.decode(z, y)
    return -bernoulli_log_likelihood(x, logits), gaussian_kl_per_dim(q)


def training_loss(reconstruction: torch.Tensor, kl_per_dim: torch.Tensor, beta: float = 1.0,
                  free_bits: float = 0.0) -> torch.Tensor:
    """The number that is minimised: the batch mean of -log p(x|z) plus beta times the KL.

    With free bits lambda > 0 (Kingma et al. 2016), each latent dimension's KL, averaged over
    the batch, counts as at least lambda nats: below that floor it costs nothing, so the
    optimiser has no reason to push a dimension all the way to the prior (posterior collapse).
    """
    kl = kl_per_dim.mean(0)
    if free_bits > 0:
        kl = kl.clamp(min=free_bits)
    return reconstruction.mean() + beta * kl.sum()


@torch.no_grad()
def evaluate(model: torch.nn.Module, x: torch.Tensor, beta: float = 1.0, batch_size: int = 1000,
             y: torch.Tensor | None = None, seed: int = 0) -> dict[str, float]:
    """Mean loss, reconstruction and KL per image over x, one posterior sample per image.

    The sample noise is drawn from a fixed seed in a forked random state: evaluating the same
    model twice gives the same numbers (so epochs are compared on equal terms), and the caller's
    random state is left as it was.
    """
    was_training = model.training
    model.eval()
    sums = torch.zeros(2, device=x.device)
    with torch.random.fork_rng(**_rng_devices(x.device)):
        torch.manual_seed(seed)
        for i in range(0, len(x), batch_size):
            rec, kl = loss_terms(model, x[i:i + batch_size], None if y is None else y[i:i + batch_size])
            sums += torch.stack([rec.sum(), kl.sum()])
    model.train(was_training)
    rec, kl = (sums / len(x)).tolist()
    return {"loss": rec + beta * kl, "reconstruction": rec, "kl": kl}


# --- the loop ----------------------------------------------------------------------------------

def train_epoch(model: torch.nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor,
                y: torch.Tensor | None = None, *, batch_size: int = 128, beta: float = 1.0,
                free_bits: float = 0.0, generator: torch.Generator | None = None,
                on_batch: Callable[[], object] | None = None) -> tuple[float, float]:
    """One pass over x in shuffled batches (pytorch/examples vae/main.py). Returns the mean
    reconstruction and KL per image over the epoch, read from the device once."""
    model.train()
    totals = torch.zeros(2, device=x.device)
    for idx in batches(x, batch_size, generator):
        reconstruction, kl_per_dim = loss_terms(model, x[idx], None if y is None else y[idx])
        loss = training_loss(reconstruction, kl_per_dim, beta, free_bits)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        totals[0] += reconstruction.detach().sum()
        totals[1] += kl_per_dim.detach().sum()
        if on_batch is not None:
            on_batch()
    rec, kl = (totals / len(x)).tolist()
    return rec, kl


def adam(parameters, lr: float, device: torch.device) -> torch.optim.Adam:
    """Adam, fused (one kernel updates every parameter: about 1.5x faster per step on a CPU)
    where this torch supports it (CUDA; the CPU from torch 2.4), else the plain one."""
    parameters = list(parameters)
    if device.type in ("cpu", "cuda"):
        try:
            return torch.optim.Adam(parameters, lr=lr, fused=True)
        except (RuntimeError, TypeError, ValueError):
            pass
    return torch.optim.Adam(parameters, lr=lr)


def fit(model: torch.nn.Module, data: ImageData, *, epochs: int = 10, batch_size: int = 128,
        lr: float = 1e-3, beta: float = 1.0, binarize_mode: str = "none", warmup_epochs: int = 0,
        free_bits: float = 0.0, patience: int | None = None, plateau: int | None = None, test_curve: bool = True,
        seed: int = 0,
        device: str | torch.device = "auto", callback: Callable[[int, torch.nn.Module], object] | None = None,
        cache_key: str | None = None, cache: bool = True, cache_dir: str | Path | None = None,
        progress: bool = True, verbose: bool = True) -> History:
    """Train `model` (an AutoEncoder or a VAE) on `data` with Adam; return its History.

    Each epoch minimises reconstruction + beta * KL per image over shuffled batches of the
    training images, then scores the model on the validation images (if the data have them)
    and the test images; the figures in the History are per-image means in nats.

    - `binarize_mode`: "none" (grey pixels), "static" (threshold at 0.5) or "dynamic" (a fresh
      Bernoulli draw of the training images each epoch). Validation and test images are scored
      on their one fixed binarized copy (helpers.data.evaluation_images).
    - `warmup_epochs`: the KL weight rises linearly from 0 (epoch 1) to `beta` (epoch
      warmup_epochs + 1) and stays there. `free_bits`: a floor, in nats, on each latent
      dimension's batch-mean KL (see `training_loss`).
    - `patience`: early stopping. Train at most `epochs` epochs; stop when the validation loss
      at the target beta (no free-bits floor) has not improved (fallen by more than 0.01%, the
      threshold of torch's ReduceLROnPlateau) for `patience` epochs, and restore the weights of
      the best epoch. Epochs of the warm-up are never chosen, nor
      counted against the patience. Needs a validation split.
    - `plateau`: when the validation loss has not improved for `plateau` epochs, divide the
      learning rate by 3 (torch's ReduceLROnPlateau), as often as it happens. A model then
      converges in fewer epochs, and with a higher starting `lr`; with early stopping, choose
      plateau < patience. Needs a validation split; ``history.lr`` records each epoch's rate.
    - `test_curve`: score the test images after every epoch (for learning curves), or, with
      False, once, after training, for the model returned: ``history.test[name]`` then holds
      one number, and training is about a tenth faster on a small training set.
    - `callback(epoch, model)` runs after every epoch; what it returns (when not None) is kept
      in ``history.snapshots``.
    - `seed` fixes the batch order, the binarization and the sampling noise. Training runs in a
      forked random state: the caller's random state is the same after `fit` as before, whether
      the model was trained or loaded from the cache.
    - `cache`: a model trained before with the same everything is loaded instead (helpers.cache).
      A run with a callback is cached only with a `cache_key` naming what the callback records.
    - Images of another float dtype (float64) are converted to float32, the models' dtype.

    Divergence (a NaN or infinite loss) raises TrainingDivergedError naming the likely cause; an
    interruption (KeyboardInterrupt) is re-raised. Either way the model is left usable: in eval
    mode, with the weights of the last good epoch, the progress bar closed, nothing written to
    the cache.
    """
    arguments = _check_fit_arguments(dict(locals()))
    dev = resolve_device(device)
    history, path, key = _from_cache(model, data, arguments, dev)
    if history is not None:
        if verbose:
            print(f"Loaded {type(model).__name__} from the cache ({short(path)}): trained before with the same "
                  f"settings, {_summary(history)}.")
        return history
    if cache and path is None and verbose:
        print("Not cached: a callback's snapshots depend on code the cache cannot see; "
              "pass cache_key='...' (naming what the callback records) to cache this run.")

    model.to(dev)
    history = _train(model, data.to(dev, torch.float32), dev, arguments)
    if path is not None:
        checkpoint_cache.save(path, key, model, history.as_dict())
    if verbose:
        where = f"; cached in {short(path)}" if path is not None and path.exists() else ""
        print(f"Trained {type(model).__name__} on {dev.type}: {_summary(history)}, {history.seconds:.1f} s{where}")
    return history


def _from_cache(model, data: ImageData, a: dict, dev: torch.device) -> tuple[History | None, Path | None, dict | None]:
    """(the cached History or None, the cache file, its key) for fit's checked arguments `a`; the
    weights are loaded into `model` on a hit. No file and no key when the run cannot be cached."""
    check_images(data)
    for option in ("patience", "plateau"):
        if a[option] is not None and data.x_val is None:
            raise ValueError(f"{option} watches the validation loss, but data.x_val is None; load the data with "
                             f"load_data(...) (it sets aside a validation split) or pass {option}=None")
    if not a["cache"] or (a["callback"] is not None and a["cache_key"] is None):
        return None, None, None
    key = checkpoint_cache.cache_key(a, dev)
    path = checkpoint_cache.cache_path(a["model"], key, a["cache_dir"])
    saved = checkpoint_cache.load(path, key, model)
    if saved is None:
        return None, path, key
    model.to(dev).eval()
    return History(**saved, from_cache=True), path, key


def _train(model, data: ImageData, dev: torch.device, a: dict) -> History:
    """The epochs of `fit`, in a forked random state, with the guard and early stopping."""
    history = History()
    conditional = getattr(model, "conditional", False)
    y_train = data.y_train if conditional else None
    splits = (["validation"] if data.x_val is not None else []) + (["test"] if a["test_curve"] or data.x_val is None
                                                                    else [])
    scored = {split: (evaluation_images(data, split, a["binarize_mode"]),
                      data.labels(split) if conditional else None) for split in splits}
    steps = math.ceil(len(data.x_train) / a["batch_size"])
    # $TQDM_DISABLE=1 hides the bar (tqdm.notebook ignores it on its own): `make run` sets it
    quiet = not a["progress"] or a["epochs"] == 0 or os.environ.get("TQDM_DISABLE", "") not in ("", "0")
    bar = tqdm(total=a["epochs"] * steps, desc=type(model).__name__, unit="batch", disable=quiet)
    good = best = _copy_state(model)
    best_loss, epoch = math.inf, -1
    with torch.random.fork_rng(**_rng_devices(dev)):
        torch.manual_seed(a["seed"])
        order = torch.Generator().manual_seed(a["seed"])
        optimizer = adam(model.parameters(), a["lr"], dev)
        # torch's patience counts the epochs it tolerates: it cuts after patience + 1 epochs without improvement
        scheduler = (torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=1 / 3, patience=a["plateau"] - 1)
                     if a["plateau"] is not None else None)
        x_train = binarize(data.x_train, "static") if a["binarize_mode"] == "static" else data.x_train
        try:
            for epoch in range(a["epochs"]):
                start = time.perf_counter()
                beta = a["beta"] * min(1.0, epoch / a["warmup_epochs"]) if a["warmup_epochs"] else a["beta"]
                x_epoch = binarize(x_train, "dynamic") if a["binarize_mode"] == "dynamic" else x_train
                rec, kl = train_epoch(model, optimizer, x_epoch, y_train, batch_size=a["batch_size"], beta=beta,
                                      free_bits=a["free_bits"], generator=order, on_batch=bar.update)
                scores = {split: evaluate(model, x, a["beta"], y=y) for split, (x, y) in scored.items()}
                _check_finite(epoch, {"train": {"reconstruction": rec, "kl": kl}, **scores}, a)
                good = _copy_state(model)
                for name, value in zip(METRICS, (rec + beta * kl, rec, kl)):
                    history.train[name].append(value)
                for split, values in scores.items():
                    for name in METRICS:
                        getattr(history, split)[name].append(values[name])
                history.beta.append(beta)
                history.lr.append(optimizer.param_groups[0]["lr"])
                history.epoch_seconds.append(time.perf_counter() - start)
                history.epochs_run = epoch + 1
                watched = (scores["validation"] if "validation" in scores else scores["test"])["loss"]
                bar.set_postfix(epoch=f"{epoch + 1}/{a['epochs']}", train=f"{rec + beta * kl:.2f}",
                                **{"validation" if "validation" in scores else "test": f"{watched:.2f}"})
                if a["callback"] is not None:
                    model.eval()
                    snapshot = a["callback"](epoch, model)
                    if snapshot is not None:
                        if a["cache"] and a["cache_key"] is not None:
                            checkpoint_cache.check_snapshot(snapshot)
                        history.snapshots.append(snapshot)
                if scheduler is not None and epoch >= a["warmup_epochs"]:
                    scheduler.step(watched)
                if a["patience"] is not None and epoch >= a["warmup_epochs"]:
                    if not math.isfinite(best_loss) or watched < best_loss - IMPROVEMENT * abs(best_loss):
                        best_loss, best, history.best_epoch = watched, good, epoch + 1
                    elif epoch + 1 - history.best_epoch >= a["patience"]:
                        break
        except BaseException:  # divergence, an interruption, a failing callback: leave the model usable
            model.load_state_dict(good)
            raise
        finally:
            bar.close()
            model.eval()
    if a["patience"] is not None and history.best_epoch:
        model.load_state_dict(best)
    else:
        history.best_epoch = history.epochs_run
    if "test" not in scored and history.epochs_run:
        x_test = evaluation_images(data, "test", a["binarize_mode"])
        with torch.random.fork_rng(**_rng_devices(dev)):
            final = evaluate(model, x_test, a["beta"], y=data.y_test if conditional else None)
        for name in METRICS:
            history.test[name].append(final[name])
    return history


def _rng_devices(device: torch.device) -> dict:
    """fork_rng's arguments that fork the CPU's random state and every accelerator's."""
    if device.type == "cuda" or torch.cuda.is_available():
        return {"devices": list(range(torch.cuda.device_count())), "device_type": "cuda"}
    if device.type == "mps":
        return {"devices": [0], "device_type": "mps"}
    return {"devices": []}


def _copy_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _check_finite(epoch: int, scores: dict, a: dict) -> None:
    for split, values in scores.items():
        for name in ("reconstruction", "kl"):
            if not math.isfinite(values[name]):
                raise TrainingDivergedError(_diverged_message(epoch, split, name, values[name], a))


def _diverged_message(epoch: int, split: str, name: str, value: float, a: dict) -> str:
    lr, beta = a["lr"], a["beta"]
    if lr >= 1e-2:
        cause = f"a learning rate too high for Adam (lr={lr:g}; 1e-3 is a safe default)"
    elif beta > 100:
        cause = f"a very large KL weight (beta={beta:g})"
    else:
        cause = f"an unstable step: try a lower learning rate than lr={lr:g}"
    where = "during the epoch" if split == "train" else f"on the {split} images after the epoch"
    return (f"Training diverged in epoch {epoch + 1}: the {name} term became {value} {where}. "
            f"The likely cause is {cause}. The model holds its weights from before that epoch.")


def _summary(history: History) -> str:
    if not history.epochs_run:
        return "0 epochs"
    split = "validation" if history.validation["loss"] else "test"
    epochs = f"{history.epochs_run} epochs"
    if history.best_epoch != history.epochs_run:
        epochs += f", best epoch {history.best_epoch} restored"
    return f"{epochs}, {split} loss {getattr(history, split)['loss'][history.best_epoch - 1]:.2f} nats/image"


def _check_fit_arguments(a: dict) -> dict:
    """Every argument of `fit` checked before anything is trained, changed or written; returned
    with NumPy numbers made Python numbers."""
    if not isinstance(a["model"], (AutoEncoder, VAE)) and not getattr(a["model"], "conditional", False):
        raise ValueError(f"model must be a helpers.models.AutoEncoder or VAE, not {type(a['model']).__name__}")
    a["epochs"] = check_int("epochs", a["epochs"], minimum=0)
    a["batch_size"] = check_int("batch_size", a["batch_size"], minimum=1)
    a["lr"] = check_number("lr", a["lr"], 0.0, strict=True, hint="the learning rate, e.g. 1e-3")
    a["beta"] = check_number("beta", a["beta"], 0.0, hint="the KL weight; 1 is the VAE")
    check_choice("binarize_mode", a["binarize_mode"], BINARIZE)
    a["warmup_epochs"] = check_int("warmup_epochs", a["warmup_epochs"], minimum=0)
    a["free_bits"] = check_number("free_bits", a["free_bits"], 0.0, hint="nats per latent dimension")
    for option in ("patience", "plateau"):
        if a[option] is not None:
            a[option] = check_int(option, a[option], minimum=1)
    a["seed"] = check_seed("seed", a["seed"])
    if not isinstance(a["test_curve"], bool):
        raise ValueError(f"test_curve={a['test_curve']!r} is not valid; test_curve must be True or False")
    if a["callback"] is not None and not callable(a["callback"]):
        raise ValueError(f"callback={a['callback']!r} is not valid; callback must be a function (epoch, model)")
    if a["cache_key"] is not None and not isinstance(a["cache_key"], str):
        raise ValueError(f"cache_key={a['cache_key']!r} is not valid; cache_key must be a string or None")
    return a
