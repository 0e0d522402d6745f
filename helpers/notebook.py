"""What every notebook does first: check its parameters, then seed and pick the device.

Used by the setup cells of notebooks 01-04. Papermill passes parameters from the command line
(`papermill notebooks/02_vae.ipynb out.ipynb -p EPOCHS 1 -p BETA 4`), so a typo must stop the
notebook at once with an error that names the parameter and its valid values.
"""

from __future__ import annotations

import math
import platform

import torch

from helpers.data import BINARIZE, DATASETS
from helpers.models import ARCHS
from helpers.train import resolve_device, set_seed


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


# name -> (test, description of the valid values)
RULES = {
    "DATASET": (lambda v: v in DATASETS, "one of " + ", ".join(repr(d) for d in DATASETS)),
    "ARCH": (lambda v: v in ARCHS, "one of " + ", ".join(repr(a) for a in ARCHS)),
    "BINARIZE": (lambda v: v in BINARIZE, "one of " + ", ".join(repr(b) for b in BINARIZE)),
    "LATENT_DIM": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "HIDDEN": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "EPOCHS": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "BATCH_SIZE": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "LR": (lambda v: _is_number(v) and v > 0, "a number > 0, e.g. 1e-3"),
    "BETA": (lambda v: _is_number(v) and v >= 0, "a number >= 0 (1 is the VAE)"),
    "SEED": (lambda v: _is_int(v), "an integer"),
    "K_MAX": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "K_EVAL": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "N_EVAL": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "BETAS": (lambda v: isinstance(v, list) and len(v) > 0 and all(_is_number(b) and b >= 0 for b in v),
              "a non-empty list of numbers >= 0 (papermill: -y 'BETAS: [0.5, 1, 4]')"),
    "LATENT_DIMS": (lambda v: isinstance(v, list) and len(v) > 0 and all(_is_int(d) and d >= 1 for d in v),
                    "a non-empty list of integers >= 1 (papermill: -y 'LATENT_DIMS: [2, 10]')"),
}


def check_parameters(**parameters) -> None:
    """Raise ValueError for the first parameter whose value is not valid; DEVICE must exist."""
    for name, value in parameters.items():
        if name == "DEVICE":
            try:
                resolve_device(value)
            except ValueError as err:
                raise ValueError(f"DEVICE={value!r} is not valid: {err}") from None
            continue
        if name not in RULES:
            raise ValueError(f"unknown parameter {name}; known: {', '.join(sorted(RULES) + ['DEVICE'])}")
        test, valid = RULES[name]
        if not test(value):
            raise ValueError(f"{name}={value!r} is not valid; {name} must be {valid}")


def setup(seed: int, device: str) -> torch.device:
    """Seed everything, pick the device, and print what this run uses."""
    set_seed(seed)
    dev = resolve_device(device)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor() or "CPU"
    print(f"torch {torch.__version__}, device {dev.type} ({name}), {torch.get_num_threads()} CPU threads, seed {seed}")
    return dev
