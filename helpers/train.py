"""Training both models: `fit`, with a progress bar, a per-epoch history and a checkpoint cache.

Taught in notebook 01 (a training loop written inline first) and used by notebooks 02-04.

The loop is fast because the data never leave the device: each epoch draws a seeded
permutation and slices batches straight out of the image tensor (no DataLoader, no per-sample
collation), and the losses are summed on the device and read back once per epoch, not with
`.item()` every batch. bench/train_speed.py measures the difference.

Losses are in nats per image (see helpers.elbo for the conventions):
``reconstruction`` = -log p(x|z) (positive), ``kl`` = KL(q(z|x) || p(z)) (0 for the
autoencoder), ``loss`` = reconstruction + beta * kl, the quantity that is minimised.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from helpers.data import BINARIZE, ImageData, batches, binarize, check_choice, repo_root
from helpers.elbo import bernoulli_log_likelihood, elbo
from helpers.models import AutoEncoder, VAE

ENV_CACHE_DIR = "VAE_CACHE_DIR"
CACHE_FORMAT = 1
METRICS = ("loss", "reconstruction", "kl")


class TrainingDivergedError(FloatingPointError):
    """The loss became NaN or infinite; the message names the likely cause."""


@dataclass
class History:
    """Per-epoch means over images, for the training set (during the epoch) and the test set
    (after it): ``train["loss"][e]``, ``test["kl"][e]`` ..."""

    train: dict[str, list[float]] = field(default_factory=lambda: {m: [] for m in METRICS})
    test: dict[str, list[float]] = field(default_factory=lambda: {m: [] for m in METRICS})
    epoch_seconds: list[float] = field(default_factory=list)
    snapshots: list = field(default_factory=list)
    from_cache: bool = False

    @property
    def seconds(self) -> float:
        return float(sum(self.epoch_seconds))

    def as_dict(self) -> dict:
        return {"train": self.train, "test": self.test, "epoch_seconds": self.epoch_seconds,
                "snapshots": self.snapshots}


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
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
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was asked for, but CUDA is not available on this machine "
                         "(torch.cuda.is_available() is False); use device='auto' or 'cpu'")
    if device == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError("device='mps' was asked for, but MPS is not available; use device='auto' or 'cpu'")
    return torch.device(device)


def loss_terms(model: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(reconstruction, kl) per image in nats: -log p(x|z) and KL(q(z|x) || p(z)) (0 for an AE)."""
    if isinstance(model, AutoEncoder):
        return -bernoulli_log_likelihood(x, model(x)), torch.zeros(len(x), device=x.device)
    terms = elbo(model, x)
    return -terms.reconstruction, terms.kl


@torch.no_grad()
def evaluate(model: torch.nn.Module, x: torch.Tensor, beta: float = 1.0, batch_size: int = 1000) -> dict[str, float]:
    """Mean loss, reconstruction and KL per image over x (one posterior sample per image)."""
    was_training = model.training
    model.eval()
    sums = torch.zeros(2, device=x.device)
    for i in range(0, len(x), batch_size):
        rec, kl = loss_terms(model, x[i:i + batch_size])
        sums += torch.stack([rec.sum(), kl.sum()])
    model.train(was_training)
    rec, kl = (sums / len(x)).tolist()
    return {"loss": rec + beta * kl, "reconstruction": rec, "kl": kl}


def fit(model: torch.nn.Module, data: ImageData, *, epochs: int = 10, batch_size: int = 128,
        lr: float = 1e-3, beta: float = 1.0, binarize_mode: str = "none", seed: int = 0,
        device: str | torch.device = "auto", callback: Callable[[int, torch.nn.Module], object] | None = None,
        cache: bool = True, cache_dir: str | Path | None = None, progress: bool = True,
        verbose: bool = True) -> History:
    """Train `model` (an AutoEncoder or a VAE) on `data` with Adam; return its History.

    Minimises reconstruction + beta * KL per image, averaged over each batch. After every epoch
    `callback(epoch, model)` is called if given; what it returns (when not None) is kept in
    ``history.snapshots``. With `cache`, a model trained before with the same configuration
    (architecture, initial weights, data and source, hyperparameters, callback) is loaded
    instead of retrained; its snapshots come from the cache and the callback is not called.
    """
    _check_fit_args(model, epochs, batch_size, lr, beta, binarize_mode, seed)
    dev = resolve_device(device)
    _check_images(data)
    config = _cache_config(model, data, epochs, batch_size, lr, beta, binarize_mode, seed, callback)
    path = _cache_path(model, config, cache_dir) if cache else None
    if path is not None:
        history = _load_cached(model, path, config, verbose)
        if history is not None:
            model.to(dev)
            return history

    set_seed(seed)
    order_gen = torch.Generator().manual_seed(seed)
    model.to(dev)
    data = data.to(dev)
    x_train = binarize(data.x_train, "static") if binarize_mode == "static" else data.x_train
    x_test = data.x_test if binarize_mode == "none" else binarize(data.x_test, "static" if binarize_mode == "static" else "dynamic")
    # fused=True: one kernel updates all parameters (about 1.5x faster per step on a laptop CPU)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, fused=dev.type in ("cpu", "cuda"))
    history = History()
    steps = epochs * math.ceil(len(x_train) / batch_size)
    # $TQDM_DISABLE=1 hides the bar (tqdm.notebook ignores it on its own): `make run` sets it
    quiet = not progress or steps == 0 or os.environ.get("TQDM_DISABLE", "") not in ("", "0")
    bar = tqdm(total=steps, desc=f"{type(model).__name__}", unit="batch", disable=quiet)
    for epoch in range(epochs):
        start, last_good = time.perf_counter(), copy.deepcopy(model.state_dict())
        x_epoch = binarize(x_train, "dynamic") if binarize_mode == "dynamic" else x_train
        sums = torch.zeros(2, device=dev)
        model.train()
        try:
            for idx in batches(x_epoch, batch_size, order_gen):
                rec, kl = loss_terms(model, x_epoch[idx])
                loss = (rec + beta * kl).mean()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                sums += torch.stack([rec.sum(), kl.sum()]).detach()
                bar.update()
        except ValueError:  # torch.distributions refuses a Normal whose parameters went NaN
            if all(torch.isfinite(p).all() for p in model.parameters()):
                raise
            sums.fill_(float("nan"))
        rec, kl = (sums / len(x_epoch)).tolist()
        if not (math.isfinite(rec) and math.isfinite(kl)):
            model.load_state_dict(last_good)
            bar.close()
            raise TrainingDivergedError(_diverged_message(epoch, rec, kl, lr, beta))
        for name, value in zip(METRICS, (rec + beta * kl, rec, kl)):
            history.train[name].append(value)
        for name, value in evaluate(model, x_test, beta).items():
            history.test[name].append(value)
        history.epoch_seconds.append(time.perf_counter() - start)
        bar.set_postfix(epoch=f"{epoch + 1}/{epochs}", train=f"{history.train['loss'][-1]:.2f}",
                        test=f"{history.test['loss'][-1]:.2f}")
        if callback is not None:
            snapshot = callback(epoch, model)
            if snapshot is not None:
                history.snapshots.append(snapshot)
    bar.close()
    model.eval()
    if path is not None:
        _save_cached(model, path, config, history)
    if verbose:
        where = f"; cached in {_short(path)}" if path is not None else ""
        test = f"test loss {history.test['loss'][-1]:.2f} nats/image, " if epochs else ""
        print(f"Trained {type(model).__name__} for {epochs} epochs on {dev.type}: {test}"
              f"{history.seconds:.1f} s{where}")
    return history


def _check_fit_args(model, epochs, batch_size, lr, beta, binarize_mode, seed) -> None:
    if not isinstance(model, (AutoEncoder, VAE)):
        raise ValueError(f"model must be a helpers.models.AutoEncoder or VAE, not {type(model).__name__}")
    if not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs={epochs!r} is not valid; it must be an integer >= 0")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} is not valid; it must be an integer >= 1")
    if not isinstance(lr, (int, float)) or not lr > 0 or not math.isfinite(lr):
        raise ValueError(f"lr={lr!r} is not valid; the learning rate must be a number > 0")
    if not isinstance(beta, (int, float)) or not beta >= 0 or not math.isfinite(beta):
        raise ValueError(f"beta={beta!r} is not valid; the KL weight must be a number >= 0")
    check_choice("binarize_mode", binarize_mode, BINARIZE)
    if not isinstance(seed, int):
        raise ValueError(f"seed={seed!r} is not valid; it must be an integer")


def _check_images(data: ImageData) -> None:
    for name in ("x_train", "x_test"):
        x = getattr(data, name)
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, 28, 28):
            raise ValueError(f"data.{name} has shape {tuple(x.shape)}; expected (N, 1, 28, 28)")
        lo, hi = x.min().item(), x.max().item()
        if not (0.0 <= lo and hi <= 1.0):
            raise ValueError(f"data.{name} has values in [{lo:.3g}, {hi:.3g}]; the Bernoulli decoder "
                             "needs pixel values in [0, 1] (divide uint8 images by 255)")


def _diverged_message(epoch: int, rec: float, kl: float, lr: float, beta: float) -> str:
    return (f"Training diverged in epoch {epoch + 1}: the reconstruction loss became {rec} and the KL {kl}. "
            f"The likely cause is a learning rate too high for Adam (lr={lr:g}; 1e-3 is a safe default)"
            + (f" or a very large KL weight (beta={beta:g})" if beta > 100 else "")
            + ". The model was restored to its weights before that epoch.")


# --- the checkpoint cache ------------------------------------------------------------------

def cache_dir_default() -> Path:
    return Path(os.environ.get(ENV_CACHE_DIR) or repo_root() / "checkpoints")


def _cache_config(model, data, epochs, batch_size, lr, beta, binarize_mode, seed, callback) -> dict:
    initial = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        initial.update(name.encode())
        initial.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    config = {"format": CACHE_FORMAT, "model": type(model).__name__, "model_config": model.config,
            "initial_weights_sha256": initial.hexdigest(), "dataset": data.name, "source": data.source,
            "n_train": len(data.x_train), "n_test": len(data.x_test), "epochs": epochs,
            "batch_size": batch_size, "lr": lr, "beta": beta, "binarize": binarize_mode, "seed": seed,
            "callback": getattr(callback, "__qualname__", None) if callback else None}
    return json.loads(json.dumps(config))  # as it reads back from the file: tuples become lists


def _cache_path(model, config: dict, cache_dir) -> Path:
    key = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]
    return Path(cache_dir or cache_dir_default()) / f"{type(model).__name__.lower()}-{key}.pt"


def _short(path: Path) -> str:
    try:
        return str(path.relative_to(repo_root()))
    except ValueError:
        return str(path)


def _load_cached(model, path: Path, config: dict, verbose: bool) -> History | None:
    if not path.exists():
        return None
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        if blob.get("config") != config:
            raise ValueError("its configuration does not match")
        model.load_state_dict(blob["state_dict"])
        h = blob["history"]
        history = History(h["train"], h["test"], h["epoch_seconds"], h["snapshots"], from_cache=True)
    except Exception as err:  # truncated, corrupt or foreign file: retrain, never crash
        print(f"Cache file {_short(path)} is unreadable ({type(err).__name__}: {err}); retraining.")
        path.unlink(missing_ok=True)
        return None
    model.eval()
    if verbose:
        test = f", test loss {history.test['loss'][-1]:.2f} nats/image" if history.test["loss"] else ""
        print(f"Loaded {type(model).__name__} from the cache ({_short(path)}): trained before with the "
              f"same configuration for {config['epochs']} epochs{test}.")
    return history


def _save_cached(model, path: Path, config: dict, history: History) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    buffer = io.BytesIO()
    torch.save({"config": config, "state_dict": state, "history": history.as_dict()}, buffer)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_bytes(buffer.getvalue())
    os.replace(tmp, path)  # atomic: a reader never sees a half-written file
