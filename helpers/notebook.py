"""What every notebook does first: check its parameters, seed, pick the device, set up its claims.

Used by the setup cells of the notebooks. Papermill passes parameters from the command line
(`papermill notebooks/02_vae.ipynb out.ipynb -p EPOCHS 1 -p BETA 4`), so a typo must stop the
notebook at once with an error that names the parameter and its valid values.
"""

from __future__ import annotations

import platform

import torch

from helpers.checks import check_choice, check_int, check_number, check_seed, invalid
from helpers.claims import Claims
from helpers.data import BINARIZE, DATASETS, ImageData
from helpers.models import ARCHS
from helpers.train import resolve_device, set_seed


def _list_of(check, what: str, example: str):
    def rule(name, value):
        try:
            if not isinstance(value, list) or not value:
                raise ValueError
            for v in value:
                check(name, v)
        except ValueError:
            raise invalid(name, value, f"a non-empty list of {what} (papermill: -y '{name}: {example}')") from None
    return rule


def _positive_int(name, value):
    check_int(name, value, minimum=1)


def _device(name, value):
    try:
        resolve_device(value)
    except ValueError as err:
        raise ValueError(f"{name}={value!r} is not valid: {err}") from None


# name -> a function (name, value) that raises ValueError naming the parameter and what is allowed
RULES = {
    "DATASET": lambda n, v: check_choice(n, v, DATASETS),
    "ARCH": lambda n, v: check_choice(n, v, ARCHS),
    "BINARIZE": lambda n, v: check_choice(n, v, BINARIZE),
    "LATENT_DIM": _positive_int,
    "HIDDEN": _positive_int,
    "EPOCHS": _positive_int,
    "MAX_EPOCHS": _positive_int,
    "PATIENCE": _positive_int,
    "PLATEAU": _positive_int,
    "WARMUP_EPOCHS": lambda n, v: check_int(n, v, minimum=0),
    "BATCH_SIZE": _positive_int,
    "LR": lambda n, v: check_number(n, v, 0.0, strict=True, hint="e.g. 1e-3"),
    "BETA": lambda n, v: check_number(n, v, 0.0, hint="1 is the VAE"),
    "FREE_BITS": lambda n, v: check_number(n, v, 0.0, hint="nats per latent dimension"),
    "SEED": check_seed,
    "SEEDS": _list_of(check_seed, "integers from 0 to 2**32 - 1", "[0, 1, 2]"),
    "K_MAX": _positive_int,
    "K_EVAL": _positive_int,
    "N_EVAL": _positive_int,
    "N_GAP": _positive_int,
    "N_TRAIN": lambda n, v: check_int(n, v, minimum=0),
    "N_TEST": lambda n, v: check_int(n, v, minimum=0),
    "N_TRAIN_CVAE": lambda n, v: check_int(n, v, minimum=0),
    "BETAS": _list_of(lambda n, v: check_number(n, v, 0.0), "numbers >= 0", "[0.5, 1, 4]"),
    "LATENT_DIMS": _list_of(_positive_int, "integers >= 1", "[2, 10]"),
    "DEVICE": _device,
}

# The reference run of each notebook: its default parameters (tests/test_notebooks.py keeps this
# in step with the notebooks' parameters cells), on the offline data, on the CPU. Its outputs are
# the committed ones, and in it a false sentence is an error (helpers.claims).
REFERENCE_RUNS: dict[str, dict] = {
    "01_autoencoder": dict(DATASET="mnist", N_TRAIN=3600, N_TEST=1000, LATENT_DIM=2, HIDDEN=512, ARCH="mlp",
                           EPOCHS=50, BATCH_SIZE=128, LR=1e-3, SEED=0, DEVICE="auto"),
    "02_vae": dict(DATASET="mnist", N_TRAIN=3600, N_TEST=1000, LATENT_DIM=2, HIDDEN=512, ARCH="mlp", BETA=1.0,
                   EPOCHS=50, BATCH_SIZE=128, LR=1e-3, SEED=0, DEVICE="auto", BINARIZE="dynamic"),
    "03_elbo": dict(DATASET="mnist", N_TRAIN=3600, N_TEST=1000, LATENT_DIM=2, HIDDEN=512, ARCH="mlp", EPOCHS=50,
                    BINARIZE="dynamic", K_MAX=1000, N_EVAL=500, N_GAP=100, SEED=0, DEVICE="auto"),
    "04_results": dict(DATASET="mnist", N_TRAIN=3600, N_TEST=1000, LATENT_DIM=20, HIDDEN=200, BINARIZE="dynamic",
                       MAX_EPOCHS=300, LR=2e-3, PLATEAU=5, PATIENCE=10, SEEDS=[0, 1, 2], BETAS=[0.5, 1, 4],
                       LATENT_DIMS=[2, 20, 64], FREE_BITS=0.25, K_EVAL=1000, N_EVAL=500, DEVICE="auto"),
    "05_going_further": dict(DATASET="fashion-mnist", LATENT_DIM=10, HIDDEN=256, N_TRAIN=2000, N_TRAIN_CVAE=10000,
                             MAX_EPOCHS=200, LR=2e-3, PLATEAU=4, PATIENCE=8, K_EVAL=1000, N_EVAL=200, SEED=0,
                             DEVICE="auto"),
}
REFERENCE_DESCRIPTION = "the default parameters, on the offline data, on the CPU"


def check_parameters(**parameters) -> dict:
    """Raise ValueError for the first parameter whose value is not valid; return them all."""
    for name, value in parameters.items():
        if name not in RULES:
            raise ValueError(f"unknown parameter {name}; known: {', '.join(sorted(RULES))}")
        RULES[name](name, value)
    return parameters


def setup(seed: int, device: str) -> torch.device:
    """Seed everything, pick the device, and print what this run uses."""
    set_seed(seed)
    dev = resolve_device(device)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor() or "CPU"
    print(f"torch {torch.__version__}, device {dev.type} ({name}), {torch.get_num_threads()} CPU threads, seed {seed}")
    return dev


def differences_from_reference(notebook: str, parameters: dict, data: ImageData, device: torch.device) -> list[str]:
    """How this run differs from the notebook's reference run; empty for the reference run itself."""
    if notebook not in REFERENCE_RUNS:
        raise ValueError(f"notebook={notebook!r} is not valid; notebook must be one of: "
                         + ", ".join(repr(n) for n in REFERENCE_RUNS))
    reference = REFERENCE_RUNS[notebook]
    found = [f"{k}={v!r} instead of {reference[k]!r}" for k, v in parameters.items()
             if k in reference and v != reference[k]]
    found += [f"{k} is not a parameter of the reference run" for k in parameters if k not in reference]
    if not data.source.startswith("offline"):
        found.append(f"the data come from {data.source.split(' (')[0]}, not the offline source")
    if torch.device(device).type != "cpu":
        found.append(f"it runs on {torch.device(device).type}, not the CPU")
    return found


def claims_for(notebook: str, parameters: dict, data: ImageData, device: torch.device) -> Claims:
    """The claim checker of this run, and one line saying whether it is the reference run."""
    differences = differences_from_reference(notebook, parameters, data, device)
    if differences:
        print("This is not the reference run (" + "; ".join(differences) + "): where a sentence of the text "
              "does not hold for your numbers, a note below says so.")
    else:
        print(f"This is the reference run ({REFERENCE_DESCRIPTION}): every sentence that states a number "
              "or a comparison is checked against its numbers.")
    return Claims(reference_run=not differences, differences="; ".join(differences))
