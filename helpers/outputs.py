"""`make outputs`: regenerate the committed notebooks' outputs, deterministically.

Each notebook is executed with its default parameters (its reference run: the offline data, a
fresh checkpoint cache, progress bars off) and saved back in place, cleaned of everything that
changes from run to run without changing what a reader sees:

- execution timestamps and papermill's per-cell and per-notebook metadata;
- the live-widget part of widget outputs (a random model id) and the notebook's saved widget
  state: what remains of a widget output is its static picture and a line of text, which
  GitHub, JupyterLab before a run, and the series' web pages all show.

    python -m helpers.outputs [NOTEBOOK ...]      # all of notebooks/ by default
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from helpers.paths import checkout_root

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
RUN_METADATA = ("execution", "papermill")


def clean(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Remove per-run metadata and live-widget views from an executed notebook (in place)."""
    for key in ("papermill", "widgets"):
        nb.metadata.pop(key, None)
    for cell in nb.cells:
        for key in RUN_METADATA:
            cell.metadata.pop(key, None)
        for output in cell.get("outputs", []):
            output.get("data", {}).pop(WIDGET_VIEW, None)
    return nb


def per_run_metadata(nb: nbformat.NotebookNode) -> list[str]:
    """What `clean` would remove: empty for a committed notebook."""
    found = [f"notebook metadata '{k}'" for k in ("papermill", "widgets") if k in nb.metadata]
    for i, cell in enumerate(nb.cells):
        found += [f"cell {i}: metadata '{k}'" for k in RUN_METADATA if k in cell.metadata]
        found += [f"cell {i}: a live widget view" for o in cell.get("outputs", []) if WIDGET_VIEW in o.get("data", {})]
    return found


def regenerate(notebook: Path, cache: Path) -> float:
    """Execute `notebook` at its defaults in the reference environment and save it cleaned."""
    import papermill

    env = {"VAE_DATA_SOURCE": "offline", "VAE_CACHE_DIR": str(cache), "TQDM_DISABLE": "1"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    start = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / notebook.name
            papermill.execute_notebook(str(notebook), str(out), cwd=str(notebook.parent), progress_bar=False)
            nb = clean(nbformat.read(out, as_version=4))
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    nbformat.write(nb, notebook)
    return time.perf_counter() - start


def main(argv: list[str]) -> int:
    root = checkout_root()
    if root is None:
        print("make outputs: run it in a vae-notebooks checkout", file=sys.stderr)
        return 2
    notebooks = [Path(a).resolve() for a in argv] or sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    cache = root / "build" / "outputs-cache"
    shutil.rmtree(cache, ignore_errors=True)  # a fresh cache: every model is trained, as CI does
    for nb in notebooks:
        print(f"--- {nb.name}", flush=True)
        print(f"{nb.name}: regenerated in {regenerate(nb, cache):.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
