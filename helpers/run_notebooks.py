"""`make run`: execute every notebook in order with papermill into build/, render each to HTML,
and print one line per notebook from the numbers its last cell recorded with `report`.

    python -m helpers.run_notebooks [NOTEBOOK ...]
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from helpers.metrics import format_metrics, read_metrics
from helpers.paths import checkout_root


def main(argv: list[str]) -> int:
    import papermill
    from nbconvert import HTMLExporter

    root = checkout_root()
    if root is None and not argv:
        print("make run: helpers is installed outside a vae-notebooks checkout, so there are no notebooks to run; "
              "run it from a clone of the repository (or name the notebooks: python -m helpers.run_notebooks NB ...).",
              file=sys.stderr)
        return 2
    notebooks_dir = root / "notebooks" if root else Path.cwd()
    build = (root or Path.cwd()) / "build"
    notebooks = [Path(a) for a in argv] or sorted(notebooks_dir.glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        print(f"make run: no notebooks (NN_name.ipynb) in {notebooks_dir}; nothing was run.", file=sys.stderr)
        return 1
    build.mkdir(exist_ok=True)
    # The executed notebooks are static documents: a progress-bar widget would show as "0%" there.
    # The kernels inherit this process's environment, so set it for the runs and restore it after.
    previous = os.environ.get("TQDM_DISABLE")
    os.environ.setdefault("TQDM_DISABLE", "1")
    try:
        lines = [run_one(nb, build, papermill, HTMLExporter) for nb in notebooks]
    finally:
        if previous is None:
            os.environ.pop("TQDM_DISABLE", None)
    print("\nSummary (executed notebooks and HTML in build/):")
    print("\n".join(lines))
    return 0


def run_one(nb: Path, build: Path, papermill, HTMLExporter) -> str:
    """Execute one notebook into build/, render it to HTML, return its summary line."""
    out = build / nb.name
    print(f"--- {nb.name}", flush=True)
    start = time.perf_counter()
    papermill.execute_notebook(str(nb), str(out), cwd=str(nb.parent), progress_bar=False)
    html, _ = HTMLExporter().from_filename(str(out))
    out.with_suffix(".html").write_text(html, encoding="utf-8")
    seconds = time.perf_counter() - start
    return f"{nb.stem}: {format_metrics(read_metrics(out))} ({seconds:.0f} s, {out.with_suffix('.html').name})"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
