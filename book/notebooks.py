"""What the book tools share: where the checkout and its notebooks are, executing one notebook,
and setting environment variables for a while (the kernels inherit them)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from helpers import paths

NOTEBOOK_NAME = re.compile(r"^\d\d_\w+\.ipynb$")  # 01_autoencoder.ipynb: the series' notebooks, in order
# The kernel's log is not the reader's business (its one warning, "running over TCP without
# encryption", is about a kernel on this machine talking to this process); errors still show.
QUIET_KERNEL = ["--IPKernelApp.log_level=ERROR"]


def checkout_root() -> Path | None:
    """The vae-notebooks checkout (book/ lives beside helpers/ in it, and is not installed elsewhere)."""
    return paths.checkout_root()


def find_notebooks(folder: Path) -> list[Path]:
    """The series' notebooks in `folder` (NN_name.ipynb), in their order."""
    return sorted(p for p in Path(folder).glob("*.ipynb") if NOTEBOOK_NAME.match(p.name))


@contextmanager
def environment(**variables: str) -> Iterator[None]:
    """Set environment variables for the duration of a `with` block, then restore each as it was
    (unset if it was unset). A variable given as None is left as it is."""
    saved = {k: os.environ.get(k) for k in variables}
    os.environ.update({k: str(v) for k, v in variables.items() if v is not None})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def execute(notebook: Path, out: Path, cwd: Path | None = None) -> None:
    """Run `notebook` with papermill into `out`, in `cwd` (by default the notebook's own folder, as
    JupyterLab does), without progress bars or the kernel's log."""
    import papermill

    papermill.execute_notebook(str(notebook), str(out), cwd=str(cwd or Path(notebook).parent), progress_bar=False,
                               extra_arguments=QUIET_KERNEL)
