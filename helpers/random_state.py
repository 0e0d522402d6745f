"""Seeds and forked random states: what makes a run repeatable without touching the caller's draws.

`set_seed` is what a notebook does once, at the top (every notebook's setup cell, through
helpers.notebook.setup). `seeded` runs a block with its own seed in a forked random state: the
draws inside are the same every time, and the random state outside is the same after the
block as before it. `helpers.train.fit`, `helpers.train.evaluate` and `helpers.elbo.mean_nll` use
it (`helpers.classifier.train_classifier` draws its batch order from a generator of its own).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

from helpers.checks import check_seed


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices): what a notebook does once, at the top."""
    seed = check_seed("seed", seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def rng_devices(device: torch.device) -> dict:
    """fork_rng's arguments that fork the CPU's random state and every accelerator's."""
    if device.type == "cuda" or torch.cuda.is_available():
        return {"devices": list(range(torch.cuda.device_count())), "device_type": "cuda"}
    if device.type == "mps":
        return {"devices": [0], "device_type": "mps"}
    return {"devices": []}


@contextmanager
def seeded(seed: int | None, device: torch.device | str = "cpu") -> Iterator[None]:
    """torch's random state forked (CPU and accelerators) and, unless `seed` is None, seeded with it."""
    with torch.random.fork_rng(**rng_devices(torch.device(device))):
        if seed is not None:
            torch.manual_seed(seed)
        yield
