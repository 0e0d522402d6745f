"""What every notebook does first: check its parameters, seed, pick the device, set up its claims.

Used by the setup cells of the notebooks. Papermill passes parameters from the command line
(`papermill notebooks/02_vae.ipynb out.ipynb -p EPOCHS 1 -p BETA 4`), so a typo must stop the
notebook at once with an error that names the parameter and its valid values.

The reference run of a notebook (`REFERENCE_RUNS`) is its `parameters` cell's defaults (the one
source), as `make outputs` recorded them in the notebook file's metadata when it made the
committed outputs; tests/test_notebooks.py checks that the record and the cell agree.
"""

from __future__ import annotations

import ast
import json
import platform
from collections.abc import Mapping
from pathlib import Path

import torch

from helpers.checks import check_choice, check_fraction, check_int, check_number, check_seed, invalid
from helpers.claims import Claims
from helpers.data import BINARIZE, DATASETS, ImageData
from helpers.models import ARCHS
from helpers.paths import checkout_root
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
    "LR_WARMUP_EPOCHS": lambda n, v: check_int(n, v, minimum=0),
    "EMA": lambda n, v: check_fraction(n, v, "the decay of the weights' average, e.g. 0.995; 0: none"),
    "MIN_IMPROVEMENT": lambda n, v: check_fraction(n, v, "a fraction of the best validation loss, e.g. 1e-3"),
    "BETA": lambda n, v: check_number(n, v, 0.0, hint="1 is the VAE"),
    "FREE_BITS": lambda n, v: check_number(n, v, 0.0, hint="nats per latent dimension"),
    "SEED": check_seed,
    "SEEDS": _list_of(check_seed, "integers from 0 to 2**32 - 1", "[0, 1, 2]"),
    "K_MAX": _positive_int,
    "K_EVAL": _positive_int,
    "GAP_K": _positive_int,
    "N_EVAL": _positive_int,
    "N_GAP": _positive_int,
    "N_TRAIN": lambda n, v: check_int(n, v, minimum=0),
    "N_TEST": lambda n, v: check_int(n, v, minimum=0),
    "N_TRAIN_CVAE": lambda n, v: check_int(n, v, minimum=0),
    "BETAS": _list_of(lambda n, v: check_number(n, v, 0.0), "numbers >= 0", "[0.5, 1, 4]"),
    "LATENT_DIMS": _list_of(_positive_int, "integers >= 1", "[2, 10]"),
    "DEVICE": _device,
}

def notebook_file(notebook: str) -> Path | None:
    """The file of the notebook named `notebook` (e.g. "02_vae"): in the checkout's notebooks/, else
    in the working directory (a notebook runs in its own folder, also when `helpers` is installed
    as a package); None where it is in neither."""
    root = checkout_root()
    for folder in ([root / "notebooks"] if root else []) + [Path.cwd()]:
        if (folder / f"{notebook}.ipynb").is_file():
            return folder / f"{notebook}.ipynb"
    return None


def parameters_cell(path: Path) -> dict:
    """The defaults in a notebook's `parameters` cell, {NAME: value}, read (not run) from the file."""
    path = Path(path)
    cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    found = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(found) != 1:
        raise ValueError(f"{path} must have one cell tagged 'parameters'; it has {len(found)}")
    source = found[0]["source"]
    values = {}
    for node in ast.parse("".join(source) if isinstance(source, list) else source).body:
        targets = [node.target] if isinstance(node, ast.AnnAssign) else getattr(node, "targets", [])
        if len(targets) != 1 or not isinstance(targets[0], ast.Name) or node.value is None:
            raise ValueError(f"{path}, parameters cell, line {node.lineno}: only NAME = value lines are allowed")
        try:
            values[targets[0].id] = ast.literal_eval(node.value)
        except ValueError:
            raise ValueError(f"{path}, parameters cell: {targets[0].id} must be a literal (a number, a string, "
                             "a list), so that its default can be read without running the notebook") from None
    return values


# Where a notebook file keeps the parameters of its reference run: `make outputs` (book.outputs)
# copies them there from the notebook's parameters cell, the one source, when it makes the committed
# outputs. A learner who edits the cell and saves changes the cell, not this record, so their run
# is not the reference run and a sentence that does not hold for it is a note, never an error.
METADATA_KEY = "vae_notebooks"


def recorded_reference(path: Path) -> dict | None:
    """The reference run's parameters recorded in the notebook file's metadata; None if it has none."""
    metadata = json.loads(Path(path).read_text(encoding="utf-8")).get("metadata", {})
    return metadata.get(METADATA_KEY, {}).get("reference_run")


class ReferenceRuns(Mapping):
    """notebook name -> the parameters of its reference run, as `make outputs` recorded them in the
    notebook file (`notebook_file`) from its `parameters` cell. A notebook whose file is not found,
    or records none, has no reference run."""

    def _folder(self) -> Path:
        root = checkout_root()
        return root / "notebooks" if root else Path.cwd()

    def __getitem__(self, notebook: str) -> dict:
        path = notebook_file(notebook)
        recorded = recorded_reference(path) if path is not None else None
        if recorded is None:
            raise KeyError(notebook)
        return recorded

    def __iter__(self):
        return iter(sorted(p.stem for p in self._folder().glob("[0-9][0-9]_*.ipynb")))

    def __len__(self) -> int:
        return len(list(iter(self)))


# The reference run of each notebook: its default parameters, on the offline data, on the CPU. Its
# outputs are the committed ones, and in it a false sentence is an error (helpers.claims).
REFERENCE_RUNS = ReferenceRuns()
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
    if notebook_file(notebook) is None:
        if checkout_root() is not None:  # in a checkout, the series' notebooks are known: a typo
            raise ValueError(f"notebook={notebook!r} is not valid; notebook must be one of: "
                             + ", ".join(repr(n) for n in REFERENCE_RUNS))
        return [f"its file {notebook}.ipynb is not in the working directory ({Path.cwd()}), so its default "
                "parameters, and with them its reference run, are unknown"]
    if notebook not in REFERENCE_RUNS:
        return [f"{notebook}.ipynb records no reference run (`make outputs` records it when it makes the outputs)"]
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
