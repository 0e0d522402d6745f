"""Where things live: the data, the checkpoint cache and the notebooks.

In a checkout of vae-notebooks (``helpers/`` beside ``notebooks/`` and ``pyproject.toml``) the
data and the cache live in the checkout's ``data/`` and ``checkpoints/``, wherever the notebook
runs from. Installed as a package (``pip install .``), ``helpers`` sits in site-packages, which is
no place for data: then they live in ``data/`` and ``checkpoints/`` of the working directory.
``$VAE_DATA_DIR`` and ``$VAE_CACHE_DIR`` override both.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_DATA_DIR = "VAE_DATA_DIR"
ENV_CACHE_DIR = "VAE_CACHE_DIR"


def checkout_root() -> Path | None:
    """The vae-notebooks checkout this package lives in, or None when it is installed elsewhere."""
    root = Path(__file__).resolve().parent.parent
    if (root / "pyproject.toml").is_file() and (root / "notebooks").is_dir():
        return root
    return None


def _home() -> Path:
    return checkout_root() or Path.cwd()


def data_dir() -> Path:
    """Where torchvision's files are looked for and downloaded to."""
    return Path(os.environ.get(ENV_DATA_DIR) or _home() / "data")


def cache_dir() -> Path:
    """Where trained models are cached (helpers.cache)."""
    return Path(os.environ.get(ENV_CACHE_DIR) or _home() / "checkpoints")


def short(path: Path) -> str:
    """A path as a reader wants to see it: relative to the checkout (or the working directory)."""
    try:
        return str(Path(path).resolve().relative_to(_home().resolve()))
    except ValueError:
        return str(path)
