"""Training both models: `fit`, with a progress bar, a per-epoch history and a checkpoint cache.

Taught in notebook 01 (a training loop written inline first) and used by notebooks 02-05.

The parts, in the order a reader meets them:

- `train_step`: one batch: the loss terms (helpers.elbo.loss_terms), the training loss, the
  optimizer's step. `train_epoch` is the loop of pytorch/examples' vae/main.py around it. It is
  fast because the data never leave the device: each epoch draws a seeded permutation and slices
  batches straight out of the image tensor (no DataLoader, no per-sample collation), and the
  losses are summed on the device and read back once per epoch, not with `.item()` every batch.
  bench/train_speed.py measures it against the recipe and against the matrix products that no
  loop can skip.
- `FitSettings`: fit's options, checked; the ones that change a number build the cache key.
- `EarlyStopping` (helpers.early_stopping): early stopping and the learning-rate schedule.
- `DivergenceGuard`: a NaN or infinite loss ends training with a clear error; any error leaves
  the model with the weights of its last good epoch.
- `lr_warm_up`: with ``lr_warmup_epochs``, the learning rate rises linearly over the first epochs.
- `flush_subnormals`: after every epoch, Adam's numbers too small for float32's normal range
  become 0, which keeps a CPU's steps fast once hidden units have died.
- `average_weights`: with ``ema`` > 0, an exponential moving average of the weights after every
  step (`WeightAverage`, torch's AveragedModel without its per-step bookkeeping) is what is
  scored, early-stopped and returned.
- `History`: what each epoch measured.
- `fit`: check the arguments, look up the cache, train, save.

Losses are in nats per image (see helpers.elbo for the conventions):
``reconstruction`` = -log p(x|z) (positive), ``kl`` = KL(q(z|x) || p(z)) (0 for the
autoencoder), ``loss`` = reconstruction + beta * kl.
"""

from __future__ import annotations

import copy
import itertools
import math
import os
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch
from tqdm.auto import tqdm

from helpers import cache as checkpoint_cache
from helpers.checks import check_choice, check_fraction, check_int, check_number, check_seed
from helpers.data import BINARIZE, ImageData, batches, binarize, check_images, evaluation_images
from helpers.early_stopping import IMPROVEMENT, EarlyStopping
from helpers.elbo import loss_terms
from helpers.models import AutoEncoder, BaseVAE
from helpers.paths import short
from helpers.random_state import seeded, set_seed

__all__ = ["IMPROVEMENT", "METRICS", "NOT_IN_KEY", "DivergenceGuard", "FitSettings", "History",
           "TrainingDivergedError", "WeightAverage", "adam", "average_weights", "evaluate", "fit", "flush_subnormals",
           "kl_weight", "loss_terms", "lr_warm_up", "resolve_device", "set_seed", "train_epoch", "train_step",
           "training_loss"]

METRICS = ("loss", "reconstruction", "kl")
NOT_IN_KEY = ("progress", "verbose", "cache", "cache_dir")  # they change no number of the result


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


# --- the loss and one step -------------------------------------------------------------------

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


def kl_weight(epoch: int, beta: float, warmup_epochs: int = 0) -> float:
    """The KL weight of epoch `epoch` (from 0): rising linearly from 0 to `beta` over a warm-up."""
    return beta * min(1.0, epoch / warmup_epochs) if warmup_epochs else beta


def train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor,
               y: torch.Tensor | None = None, beta: float = 1.0, free_bits: float = 0.0
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """One gradient step on a batch: the loss terms, the training loss, the optimizer's step.
    Returns the terms (reconstruction per image, KL per image and dimension), detached."""
    reconstruction, kl_per_dim = loss_terms(model, x, y)
    loss = training_loss(reconstruction, kl_per_dim, beta, free_bits)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return reconstruction.detach(), kl_per_dim.detach()


def train_epoch(model: torch.nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor,
                y: torch.Tensor | None = None, *, batch_size: int = 128, beta: float = 1.0,
                free_bits: float = 0.0, generator: torch.Generator | None = None,
                on_batch: Callable[[], object] | None = None) -> tuple[float, float]:
    """One pass over x in shuffled batches (pytorch/examples vae/main.py). Returns the mean
    reconstruction and KL per image over the epoch, read from the device once."""
    model.train()
    totals = torch.zeros(2, device=x.device)
    for idx in batches(x, batch_size, generator):
        reconstruction, kl_per_dim = train_step(model, optimizer, x[idx], None if y is None else y[idx], beta,
                                                free_bits)
        totals[0] += reconstruction.sum()
        totals[1] += kl_per_dim.sum()
        if on_batch is not None:
            on_batch()
    rec, kl = (totals / len(x)).tolist()
    return rec, kl


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
    with seeded(seed, x.device):
        for i in range(0, len(x), batch_size):
            rec, kl = loss_terms(model, x[i:i + batch_size], None if y is None else y[i:i + batch_size])
            sums += torch.stack([rec.sum(), kl.sum()])
    model.train(was_training)
    rec, kl = (sums / len(x)).tolist()
    return {"loss": rec + beta * kl, "reconstruction": rec, "kl": kl}


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


@torch.no_grad()
def flush_subnormals(optimizer: torch.optim.Optimizer) -> None:
    """Set the optimizer's subnormal numbers (nonzero, but below float32's smallest normal number,
    about 1.2e-38) to 0.

    When a ReLU unit dies (it is 0 for every image), its weights' gradients are exactly 0, and
    Adam's running mean of them shrinks by a factor 0.9 a step, into the subnormal range, where
    a CPU can compute much more slowly (an Intel Xeon multiplied subnormals 36 times more slowly
    than normal numbers). In notebook 04's main model 107 of the encoder's 200 first-layer units
    died, and the Adam step came to take nearly three times as long (the epochs 15% longer). A
    subnormal mean moves a weight by far less than the weight's own rounding, so setting it to
    0 changed no weight in the runs we measured: fit's results were bit for bit the same
    (bench/time_to_quality.py measures the time it saves)."""
    for state in optimizer.state.values():
        for value in state.values():
            if torch.is_tensor(value) and value.is_floating_point():
                value.masked_fill_(value.abs() < torch.finfo(value.dtype).tiny, 0.0)


def lr_warm_up(optimizer: torch.optim.Optimizer, steps: int) -> torch.optim.lr_scheduler.LinearLR | None:
    """A linear warm-up of the learning rate over `steps` steps (torch's LinearLR, stepped after
    every step): step k of the first `steps` takes lr * k / steps; None when steps < 2.

    A high learning rate at the first steps, while Adam's estimates of the gradients' scale are
    still rough, can push ReLU units to be 0 for every image for good: in notebook 04's main
    model at lr 3e-3, 107 of the encoder's 200 first-layer units died without a warm-up, and
    about 60 at lr 5e-3 after a warm-up of 10 epochs, which also converged sooner."""
    if steps < 2:
        return None
    return torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=1 / steps, total_iters=steps - 1)


def average_weights(model: torch.nn.Module, ema: float) -> WeightAverage | None:
    """An exponential moving average of `model`'s weights (Polyak averaging), None when ema is 0.

    After each step, ``averaged.update_parameters(model)`` moves every averaged weight towards the
    model's: in the long run, average = ema * average + (1 - ema) * weights, an average over about
    the last 1 / (1 - ema) steps (200 for 0.995). Over the first steps it is bias-corrected, as
    Adam corrects its moments: after t steps it is the mean of those t steps' weights, weighted
    ema ** age, so it does not hang on to the random initial weights. The average carries less of
    the steps' noise than the weights themselves (bench/time_to_quality.py measures what that buys)."""
    return WeightAverage(model, ema) if ema else None


class WeightAverage:
    """The average of `average_weights`: ``module`` is a copy of the model that holds it.

    The arithmetic is that of torch's ``AveragedModel(model, multi_avg_fn=..., use_buffers=True)``
    (the same numbers, bit for bit), without its bookkeeping around each step: in notebook 04's
    main model AveragedModel's update took about 0.2 ms a step against 0.03 ms for the one
    ``torch._foreach_lerp_`` here, 2-6% of an epoch in side-by-side runs (README, time to quality)."""

    def __init__(self, model: torch.nn.Module, ema: float):
        self.module, self.ema, self.steps = copy.deepcopy(model), ema, 0
        self._averaged = _weights_and_buffers(self.module)
        self._is_float = [a.is_floating_point() for a in self._averaged]

    @torch.no_grad()
    def update_parameters(self, model: torch.nn.Module) -> None:
        """After the t-th step of `model` (the model the average was made from): the first step
        copies its weights; the t-th moves the average by the share (1 - ema) / (1 - ema ** t) of its
        distance to them: 1 / (1 + ema) at t = 2, 1 - ema in the long run. Integer buffers (a
        count) are copied."""
        self.steps += 1
        current = _weights_and_buffers(model)
        if self.steps == 1:
            torch._foreach_copy_(self._averaged, current)
            return
        pairs = list(zip(self._averaged, current, self._is_float, strict=True))
        torch._foreach_lerp_([a for a, _, f in pairs if f], [c for _, c, f in pairs if f],
                             (1 - self.ema) / (1 - self.ema ** self.steps))
        for a, c, is_float in pairs:
            if not is_float:
                a.copy_(c)


def _weights_and_buffers(model: torch.nn.Module) -> list[torch.Tensor]:
    return [t.detach() for t in itertools.chain(model.parameters(), model.buffers())]


# --- the settings ------------------------------------------------------------------------------

@dataclass
class FitSettings:
    """The options of `fit` (its docstring says what each does), checked when made: a bad one raises
    a ValueError naming it and what is allowed. NumPy numbers become Python numbers."""

    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    lr_warmup_epochs: int = 0
    beta: float = 1.0
    binarize_mode: str = "none"
    warmup_epochs: int = 0
    free_bits: float = 0.0
    patience: int | None = None
    plateau: int | None = None
    min_improvement: float = IMPROVEMENT
    ema: float = 0.0
    test_curve: bool = True
    seed: int = 0
    device: str | torch.device = "auto"
    callback: Callable[[int, torch.nn.Module], object] | None = None
    cache_key: str | None = None
    cache: bool = True
    cache_dir: str | Path | None = None
    progress: bool = True
    verbose: bool = True

    def __post_init__(self):
        self.epochs = check_int("epochs", self.epochs, minimum=0)
        self.batch_size = check_int("batch_size", self.batch_size, minimum=1)
        self.lr = check_number("lr", self.lr, 0.0, strict=True, hint="the learning rate, e.g. 1e-3")
        self.lr_warmup_epochs = check_int("lr_warmup_epochs", self.lr_warmup_epochs, minimum=0)
        self.beta = check_number("beta", self.beta, 0.0, hint="the KL weight; 1 is the VAE")
        check_choice("binarize_mode", self.binarize_mode, BINARIZE)
        self.warmup_epochs = check_int("warmup_epochs", self.warmup_epochs, minimum=0)
        self.free_bits = check_number("free_bits", self.free_bits, 0.0, hint="nats per latent dimension")
        if self.patience is not None:
            self.patience = check_int("patience", self.patience, minimum=1)
        if self.plateau is not None:
            self.plateau = check_int("plateau", self.plateau, minimum=1)
        self.min_improvement = check_fraction("min_improvement", self.min_improvement,
                                              "a fraction of the best validation loss, e.g. 1e-3 for 0.1%")
        self.ema = check_fraction("ema", self.ema, "the decay of the weights' average, e.g. 0.995; 0: no average")
        self.seed = check_seed("seed", self.seed)
        _check_kind("test_curve", self.test_curve, bool, "True or False")
        if self.callback is not None and not callable(self.callback):
            raise ValueError(f"callback={self.callback!r} is not valid; callback must be a function (epoch, model)")
        _check_kind("cache_key", self.cache_key, (str, type(None)), "a string or None")

    def check_data(self, data: ImageData) -> None:
        """Raise a ValueError unless `data` are images in [0, 1] with the splits these settings need."""
        check_images(data)
        for option in ("patience", "plateau"):
            if getattr(self, option) is not None and data.x_val is None:
                raise ValueError(f"{option} watches the validation loss, but data.x_val is None; load the data with "
                                 f"load_data(...) (it sets aside a validation split) or pass {option}=None")

    def steps_per_epoch(self, n_train: int) -> int:
        """How many steps an epoch over `n_train` images takes: a ragged last batch is a step too."""
        return math.ceil(n_train / self.batch_size)

    @property
    def cacheable(self) -> bool:
        """A run with a callback is cached only with a cache_key naming what the callback records."""
        return self.cache and (self.callback is None or self.cache_key is not None)

    def key(self, model: torch.nn.Module, data: ImageData, device: torch.device) -> dict:
        """The cache key of a run with these settings (helpers.cache): every setting but NOT_IN_KEY,
        the device type, whether there is a callback; the model, the data and the code."""
        settings = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in NOT_IN_KEY}
        settings.update(device=device.type, callback=self.callback is not None)  # cache_key names what it records
        return checkpoint_cache.cache_key(settings, model, data)


def _check_kind(name: str, value: object, kind: type | tuple, valid: str) -> None:
    if not isinstance(value, kind):
        raise ValueError(f"{name}={value!r} is not valid; {name} must be {valid}")


# --- the divergence guard and the history ------------------------------------------------------

class TrainingDivergedError(FloatingPointError):
    """The loss became NaN or infinite; the message names the likely cause, and the model holds
    its weights from before the epoch that diverged."""


class DivergenceGuard:
    """Keeps a copy of the weights after every good epoch. `check` raises TrainingDivergedError
    when a loss term is NaN or infinite; leaving the `with` block on any error (a divergence, an
    interruption, a failing callback) puts the last good weights back. The model ends in eval mode."""

    def __init__(self, model: torch.nn.Module, lr: float, beta: float):
        self.model, self.lr, self.beta = model, lr, beta
        self.good = _copy_state(model)

    def check(self, epoch: int, scores: dict[str, dict[str, float]]) -> dict[str, torch.Tensor]:
        """`scores[split]` holds the epoch's reconstruction and KL; returns the copy of the good weights."""
        for split, values in scores.items():
            for name in ("reconstruction", "kl"):
                if not math.isfinite(values[name]):
                    raise TrainingDivergedError(self._message(epoch, split, name, values[name]))
        self.good = _copy_state(self.model)
        return self.good

    def _message(self, epoch: int, split: str, name: str, value: float) -> str:
        if self.lr >= 1e-2:
            cause = f"a learning rate too high for Adam (lr={self.lr:g}; 1e-3 is a safe default)"
        elif self.beta > 100:
            cause = f"a very large KL weight (beta={self.beta:g})"
        else:
            cause = f"an unstable step: try a lower learning rate than lr={self.lr:g}"
        where = "during the epoch" if split == "train" else f"on the {split} images after the epoch"
        return (f"Training diverged in epoch {epoch + 1}: the {name} term became {value} {where}. "
                f"The likely cause is {cause}. The model holds its weights from before that epoch.")

    def __enter__(self) -> DivergenceGuard:
        return self

    def __exit__(self, kind, error, traceback) -> bool:
        if kind is not None:
            self.model.load_state_dict(self.good)
        self.model.eval()
        return False


def _copy_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


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

    def record(self, scores: dict[str, dict[str, float]], beta: float, lr: float, seconds: float) -> None:
        """One epoch: `scores[split]` (train, validation, test: those scored) holds its METRICS."""
        for split, values in scores.items():
            for name in METRICS:
                getattr(self, split)[name].append(values[name])
        self.beta.append(beta)
        self.lr.append(lr)
        self.epoch_seconds.append(seconds)
        self.epochs_run += 1

    def summary(self) -> str:
        """"12 epochs, best epoch 9 restored, validation loss 123.45 nats/image"."""
        if not self.epochs_run:
            return "0 epochs"
        split = "validation" if self.validation["loss"] else "test"
        epochs = f"{self.epochs_run} epochs"
        if self.best_epoch != self.epochs_run:
            epochs += f", best epoch {self.best_epoch} restored"
        return f"{epochs}, {split} loss {getattr(self, split)['loss'][self.best_epoch - 1]:.2f} nats/image"


# --- fit ---------------------------------------------------------------------------------------

def fit(model: torch.nn.Module, data: ImageData, *, epochs: int = 10, batch_size: int = 128,
        lr: float = 1e-3, lr_warmup_epochs: int = 0, beta: float = 1.0, binarize_mode: str = "none",
        warmup_epochs: int = 0, free_bits: float = 0.0, patience: int | None = None, plateau: int | None = None,
        min_improvement: float = IMPROVEMENT, ema: float = 0.0,
        test_curve: bool = True, seed: int = 0,
        device: str | torch.device = "auto", callback: Callable[[int, torch.nn.Module], object] | None = None,
        cache_key: str | None = None, cache: bool = True, cache_dir: str | Path | None = None,
        progress: bool = True, verbose: bool = True) -> History:
    """Train `model` (an AutoEncoder, a VAE or a ConditionalVAE) on `data` with Adam; return its History.

    Each epoch minimises reconstruction + beta * KL per image over shuffled batches of the
    training images, then scores the model on the validation images (if the data have them)
    and the test images; the figures in the History are per-image means in nats.

    - `binarize_mode`: "none" (grey pixels), "static" (threshold at 0.5) or "dynamic" (a fresh
      Bernoulli draw of the training images each epoch). Validation and test images are scored
      on their one fixed binarized copy (helpers.data.evaluation_images).
    - `lr_warmup_epochs`: the learning rate rises linearly, step by step, from lr / n to `lr` over
      the first n steps, the steps of that many epochs (`lr_warm_up`). With it a higher `lr` is
      safe at the start: notebook 04 trains at 6e-3 after 10 epochs of warm-up.
    - `warmup_epochs`: the KL weight rises linearly from 0 (epoch 1) to `beta` (epoch
      warmup_epochs + 1) and stays there. `free_bits`: a floor, in nats, on each latent
      dimension's batch-mean KL (see `training_loss`).
    - `patience`: early stopping. Train at most `epochs` epochs; stop when the validation loss
      at the target beta (no free-bits floor) has not improved (fallen by more than the fraction
      `min_improvement` of the best so far: by default 0.01%, the threshold of torch's
      ReduceLROnPlateau) for `patience` epochs, and restore the weights of the best epoch. Epochs
      of the warm-up are never chosen, nor counted against the patience. Needs a validation split.
    - `plateau`: when the validation loss has not improved for `plateau` epochs, divide the
      learning rate by 3 (torch's ReduceLROnPlateau), as often as it happens. A model then
      converges in fewer epochs, and with a higher starting `lr`; with early stopping, choose
      plateau < patience. Needs a validation split; ``history.lr`` records each epoch's rate.
    - `ema`: 0 (the default) trains and returns the weights themselves. A decay in (0, 1), e.g.
      0.995, keeps an exponential moving average of the weights after every step
      (`average_weights`): every score in the History, early stopping, the callback and the
      model returned are then the average's, never the raw weights'. Its validation loss is
      smooth and keeps creeping down, so stop it at a coarser threshold: notebook 04 uses
      `min_improvement=1e-3` (0.1%) with patience 5.
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
    if not isinstance(model, (AutoEncoder, BaseVAE)):
        raise ValueError(f"model must be a helpers.models.AutoEncoder or VAE, not {type(model).__name__}")
    settings = FitSettings(epochs=epochs, batch_size=batch_size, lr=lr, lr_warmup_epochs=lr_warmup_epochs, beta=beta,
                           binarize_mode=binarize_mode, warmup_epochs=warmup_epochs, free_bits=free_bits,
                           patience=patience, plateau=plateau, min_improvement=min_improvement, ema=ema,
                           test_curve=test_curve, seed=seed, device=device, callback=callback, cache_key=cache_key,
                           cache=cache, cache_dir=cache_dir, progress=progress, verbose=verbose)
    dev = resolve_device(device)
    settings.check_data(data)

    path, key, cached = _look_up(model, data, settings, dev)
    if cached is not None:
        return cached

    history = _train(model.to(dev), data.to(dev, torch.float32), dev, settings)

    if path is not None:
        checkpoint_cache.save(path, key, model, history.as_dict())
    where = f"; cached in {short(path)}" if path is not None and path.exists() else ""
    _say(verbose, f"Trained {type(model).__name__} on {dev.type}: {history.summary()}, {history.seconds:.1f} s{where}")
    return history


def _look_up(model: torch.nn.Module, data: ImageData, s: FitSettings, dev: torch.device
             ) -> tuple[Path | None, dict | None, History | None]:
    """(the cache file, its key, the cached History or None) of a `fit` run; on a hit the weights
    are loaded into `model`, on `dev`, in eval mode. No file and no key when the run is not cached."""
    if not s.cacheable:
        _say(s.verbose and s.cache, "Not cached: a callback's snapshots depend on code the cache cannot see; "
                                    "pass cache_key='...' (naming what the callback records) to cache this run.")
        return None, None, None
    key = s.key(model, data, dev)
    path = checkpoint_cache.cache_path(model, key, s.cache_dir)
    saved = checkpoint_cache.load(path, key, model)
    if saved is None:
        return path, key, None
    model.to(dev).eval()
    history = History(**saved, from_cache=True)
    _say(s.verbose, f"Loaded {type(model).__name__} from the cache ({short(path)}): trained before with the same "
                    f"settings, {history.summary()}.")
    return path, key, history


def _say(when: bool, message: str) -> None:
    if when:
        print(message)


def _train(model: torch.nn.Module, data: ImageData, dev: torch.device, s: FitSettings) -> History:
    """The epochs of `fit` in a forked random state, inside the divergence guard; then the best
    epoch's weights (with early stopping), and the test images scored once (without a test curve)."""
    history = History()
    with seeded(s.seed, dev), DivergenceGuard(model, s.lr, s.beta) as guard, \
            closing(_progress_bar(model, len(data.x_train), s)) as bar:
        stopping, averaged = _run_epochs(model, data, dev, s, history, guard, bar)
    if stopping.restore_best(model):
        history.best_epoch = stopping.best_epoch
    else:
        history.best_epoch = history.epochs_run
        if averaged is not None:
            model.load_state_dict(averaged.module.state_dict())
    if not _scores_test_each_epoch(data, s) and history.epochs_run:
        x_test = evaluation_images(data, "test", s.binarize_mode)
        final = evaluate(model, x_test, s.beta, y=data.y_test if model.conditional else None)
        for name in METRICS:
            history.test[name].append(final[name])
    return history


def _run_epochs(model: torch.nn.Module, data: ImageData, dev: torch.device, s: FitSettings, history: History,
                guard: DivergenceGuard, bar) -> tuple[EarlyStopping, WeightAverage | None]:
    """Epoch after epoch until `s.epochs` have run or early stopping says stop; each is recorded in `history`.
    With `s.ema`, the weights' average is scored, early-stopped and shown to the callback."""
    y_train = data.y_train if model.conditional else None
    scored = _scored_images(data, s, model.conditional)
    x_train = binarize(data.x_train, "static") if s.binarize_mode == "static" else data.x_train
    order = torch.Generator().manual_seed(s.seed)
    optimizer = adam(model.parameters(), s.lr, dev)
    warm_up = lr_warm_up(optimizer, s.lr_warmup_epochs * s.steps_per_epoch(len(x_train)))
    stopping = EarlyStopping(optimizer, s.patience, s.plateau, s.warmup_epochs, s.min_improvement)
    averaged = average_weights(model, s.ema)
    scored_model = model if averaged is None else averaged.module

    def on_batch():
        if warm_up is not None and warm_up.last_epoch < warm_up.total_iters:
            warm_up.step()
        if averaged is not None:
            averaged.update_parameters(model)
        bar.update()
    for epoch in range(s.epochs):
        start = time.perf_counter()
        beta = kl_weight(epoch, s.beta, s.warmup_epochs)
        x_epoch = binarize(x_train, "dynamic") if s.binarize_mode == "dynamic" else x_train
        rec, kl = train_epoch(model, optimizer, x_epoch, y_train, batch_size=s.batch_size, beta=beta,
                              free_bits=s.free_bits, generator=order, on_batch=on_batch)
        flush_subnormals(optimizer)
        scores = {split: evaluate(scored_model, x, s.beta, y=y) for split, (x, y) in scored.items()}
        good = guard.check(epoch, {"train": {"reconstruction": rec, "kl": kl}, **scores})
        if averaged is not None:
            good = _copy_state(scored_model)   # what early stopping keeps: the average's weights
        history.record({"train": {"loss": rec + beta * kl, "reconstruction": rec, "kl": kl}, **scores}, beta,
                       optimizer.param_groups[0]["lr"], time.perf_counter() - start)
        watched = "validation" if "validation" in scores else "test"
        bar.set_postfix(epoch=f"{epoch + 1}/{s.epochs}", train=f"{rec + beta * kl:.2f}",
                        **{watched: f"{scores[watched]['loss']:.2f}"})
        _snapshot(scored_model, s, history, epoch)
        if stopping.step(epoch, scores[watched]["loss"], good):
            break
    return stopping, averaged


def _scores_test_each_epoch(data: ImageData, s: FitSettings) -> bool:
    return s.test_curve or data.x_val is None


def _scored_images(data: ImageData, s: FitSettings, conditional: bool) -> dict:
    """{split: (its fixed evaluation images, its labels for a conditional model, else None)} scored each epoch."""
    splits = (["validation"] if data.x_val is not None else []) + (["test"] if _scores_test_each_epoch(data, s)
                                                                    else [])
    return {split: (evaluation_images(data, split, s.binarize_mode), data.labels(split) if conditional else None)
            for split in splits}


def _progress_bar(model: torch.nn.Module, n_train: int, s: FitSettings):
    # $TQDM_DISABLE=1 hides the bar (tqdm.notebook ignores it on its own): `make run` sets it
    quiet = not s.progress or s.epochs == 0 or os.environ.get("TQDM_DISABLE", "") not in ("", "0")
    return tqdm(total=s.epochs * s.steps_per_epoch(n_train), desc=type(model).__name__, unit="batch",
                disable=quiet)


def _snapshot(model: torch.nn.Module, s: FitSettings, history: History, epoch: int) -> None:
    """Run the callback after an epoch, in eval mode; keep what it returns (checked, if it is to be cached)."""
    if s.callback is None:
        return
    model.eval()
    snapshot = s.callback(epoch, model)
    if snapshot is not None:
        if s.cacheable:
            checkpoint_cache.check_snapshot(snapshot)
        history.snapshots.append(snapshot)
