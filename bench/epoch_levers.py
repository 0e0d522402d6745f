"""Per-epoch levers for notebook 04's main model, each measured against today's `fit` (make bench)

Prototypes of changes to helpers/train.py, applied here by replacing `helpers.train.loss_terms`
in this process only (bench/recommended.patch has the change itself). Each lever trains the
784-200-20 VAE of notebook 04 with 04's settings (batch 128, lr 2e-3, dynamic binarization,
validation scored every epoch) for a few epochs from the same weights, alternating with
today's `fit` in one process; the seconds are medians over epochs and rounds.

- ``fused``: the loss without a `Normal` object: the sample mu + sigma * eps in one addcmul, the
  KL 0.5 (mu^2 + sigma^2 - 1) - log sigma (gaussian_kl_per_dim's formula, whose log sigma keeps
  fit's divergence guard working: with - 0.5 logvar instead, lr 1.0 no longer diverges and
  tests/test_train.py's guard test fails), and the reconstruction as one
  `binary_cross_entropy_with_logits` summed per image;
- ``compile``: the same function under `torch.compile` (dynamic shapes marked from the start so
  that the ragged last batch and the validation batch do not force recompiles); its first epoch
  carries the compile time, reported apart.

The last line: ``best lever: NAME X s/epoch (today Y s/epoch, Z x)``.

    python bench/epoch_levers.py [--epochs 5] [--rounds 2] [--levers fused compile] [--train-images N]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import statistics
import time

import torch
import torch.nn.functional as F

import helpers.train as T
from helpers.data import load_data
from helpers.models import VAE

LATENT_DIM, HIDDEN = 20, 200


def fused_loss_terms(model, x, y=None):
    """loss_terms of an unconditional VAE in the fewest kernels: what recommended.patch puts in helpers.train."""
    if not isinstance(model, VAE) or y is not None:
        return TODAY(model, x, y)
    mu, logvar = model.encoder(x).chunk(2, dim=-1)
    std = torch.exp(0.5 * logvar)
    z = torch.addcmul(mu, std, torch.randn_like(std))
    logits = model.decoder(z)
    reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
    return reconstruction, 0.5 * (mu.square() + std.square() - 1.0) - torch.log(std)


TODAY = T.loss_terms
LEVERS = {"fused": fused_loss_terms,
          "compile": lambda: torch.compile(fused_loss_terms, dynamic=True)}


@contextlib.contextmanager
def lever(name: str | None):
    """helpers.train.loss_terms replaced by the lever's version while the block runs."""
    if name is None:
        yield
        return
    T.loss_terms = LEVERS[name]() if name == "compile" else LEVERS[name]
    try:
        yield
    finally:
        T.loss_terms = TODAY


def epochs(name: str | None, data, n: int, seed: int) -> list[float]:
    torch.manual_seed(seed)
    model = VAE(LATENT_DIM, HIDDEN)
    with lever(name):
        history = T.fit(model, data, epochs=n, lr=2e-3, batch_size=128, binarize_mode="dynamic", seed=seed,
                        device="cpu", test_curve=False, cache=False, progress=False, verbose=False)
    return history.epoch_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--levers", nargs="+", default=list(LEVERS), choices=list(LEVERS))
    parser.add_argument("--train-images", type=int, default=None, help="train on the first N only (smoke runs)")
    args = parser.parse_args()
    if args.epochs < 2 or args.rounds < 1:
        parser.error("--epochs must be at least 2 (the first epoch is timed apart) and --rounds at least 1")
    data = load_data("mnist", source="offline", verbose=False)
    if args.train_images is not None:
        data = dataclasses.replace(data, x_train=data.x_train[: args.train_images],
                                   y_train=data.y_train[: args.train_images])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; 784-{HIDDEN}-{LATENT_DIM} VAE, "
          f"{len(data.x_train):,} training images, batch 128, {args.epochs} epochs x {args.rounds} rounds")
    names = [None, *args.levers]
    steady: dict = {n: [] for n in names}
    first: dict = {n: [] for n in names}
    for r in range(args.rounds):
        for name in names:                                 # interleaved: today, fused, compile, today, ...
            start = time.perf_counter()
            seconds = epochs(name, data, args.epochs, seed=r)
            first[name].append(seconds[0])
            steady[name] += seconds[1:]
            print(f"round {r + 1} {name or 'today'}: first epoch {seconds[0]:.2f} s, then "
                  f"{statistics.median(seconds[1:]):.3f} s/epoch ({time.perf_counter() - start:.1f} s)", flush=True)
    today = statistics.median(steady[None])
    for name in args.levers:
        print(f"{name}: {statistics.median(steady[name]):.3f} s/epoch ({today / statistics.median(steady[name]):.2f}x "
              f"today's {today:.3f}); first epoch {statistics.median(first[name]):.2f} s (today's "
              f"{statistics.median(first[None]):.2f})")
    best = min(args.levers, key=lambda n: statistics.median(steady[n]))
    print(f"best lever: {best} {statistics.median(steady[best]):.3f} s/epoch (today {today:.3f} s/epoch, "
          f"{today / statistics.median(steady[best]):.2f} x)")


if __name__ == "__main__":
    main()
