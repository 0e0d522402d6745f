"""Two of notebook 04's models at once: `helpers.parallel.fit_each` against `fit` one after another (make bench)

Notebook 04 trains its seeds, its beta values and its latent sizes in pairs. This trains two of
its models (`VAE(20, 200)` with seeds 1 and 2, 04's protocol: dynamic binarization, the
weights' average, early stopping at 0.1%, `test_curve=False`, no cache) both ways, alternating in one process:

- **one after another**: `fit` twice, with torch's threads (2 on this machine);
- **fit_each**: two worker processes of one thread each, their start-up (a fresh Python that
  imports torch) included in the time.

It says whether both ways give the same weights, bit for bit (on the AMD EPYC CPU they do; on an
Intel Xeon with AVX-512 one thread rounds differently from two, so it prints how far apart the
best validation -ELBOs are), and prints the wall-clock times (medians over rounds). The last
line: ``fit_each: X s (one after another Y s, Z x)``.

    python bench/parallel_fit.py [--rounds 2] [--seeds 1 2] [--max-epochs 300] [--train-images N]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import torch

from helpers.data import load_data
from helpers.models import VAE
from helpers.parallel import fit_each
from helpers.train import fit, set_seed

LATENT_DIM, HIDDEN = 20, 200
PROTOCOL = dict(lr=3e-3, ema=0.995, patience=5, min_improvement=1e-3, binarize_mode="dynamic", device="cpu",
                test_curve=False, cache=False, progress=False, verbose=False)   # notebook 04's


def models(seeds: list[int]) -> list[VAE]:
    out = []
    for seed in seeds:
        set_seed(seed)
        out.append(VAE(LATENT_DIM, HIDDEN))
    return out


def agreement(one_by_one, together, histories, parallel_histories) -> str:
    """Whether both ways gave the same weights; where not (on CPUs whose kernels round differently with one
    thread than with two, e.g. Intel's AVX-512 ones), how far apart their best validation -ELBOs are."""
    if all(torch.equal(a, b) for m, n in zip(one_by_one, together)
           for a, b in zip(m.state_dict().values(), n.state_dict().values())):
        return "the same weights, bit for bit"
    best = [(min(h.validation["loss"]), min(p.validation["loss"])) for h, p in zip(histories, parallel_histories)]
    return ("other weights by float rounding (this CPU rounds differently with one thread than with two); best "
            "validation -ELBO " + ", ".join(f"{a:.2f} against {b:.2f}" for a, b in best))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--max-epochs", type=int, default=300, help="04's MAX_EPOCHS")
    parser.add_argument("--train-images", type=int, default=None, help="the first N training images only (smoke runs)")
    args = parser.parse_args()
    for name in ("rounds", "max_epochs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, not {getattr(args, name)}")
    if len(args.seeds) < 2:
        parser.error(f"--seeds needs at least two seeds (models to train at once), not {args.seeds}")
    data = load_data("mnist", source="offline", verbose=False)
    if args.train_images is not None:
        data = dataclasses.replace(data, x_train=data.x_train[: args.train_images],
                                   y_train=data.y_train[: args.train_images])
    options = [dict(seed=seed) for seed in args.seeds]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"{len(args.seeds)} x 784-{HIDDEN}-{LATENT_DIM} "
          f"MLP VAE, 04's protocol, {len(data.x_train):,} training images, at most {args.max_epochs} epochs")
    times = {"one after another": [], "fit_each": []}
    for round_ in range(args.rounds):
        start = time.perf_counter()
        one_by_one = models(args.seeds)
        histories = [fit(m, data, epochs=args.max_epochs, **PROTOCOL, **o) for m, o in zip(one_by_one, options)]
        times["one after another"].append(time.perf_counter() - start)
        start = time.perf_counter()
        together = models(args.seeds)
        parallel_histories = fit_each(together, data, options, epochs=args.max_epochs, **PROTOCOL)
        times["fit_each"].append(time.perf_counter() - start)
        print(f"round {round_ + 1}: one after another {times['one after another'][-1]:.1f} s, fit_each "
              f"{times['fit_each'][-1]:.1f} s; epochs {[h.epochs_run for h in histories]} and "
              f"{[h.epochs_run for h in parallel_histories]}; "
              f"{agreement(one_by_one, together, histories, parallel_histories)}", flush=True)
    serial, parallel = (statistics.median(times[k]) for k in ("one after another", "fit_each"))
    print(f"fit_each: {parallel:.1f} s (one after another {serial:.1f} s, {serial / parallel:.2f} x)")


if __name__ == "__main__":
    main()
