"""`make run`: execute every notebook in order with papermill into build/, build the series'
website from the executed notebooks into build/site/ (helpers.site), and print one line per
notebook from the numbers its last cell recorded with `report`, then the path of the site's index.

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

    from helpers import site

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
    site_dir = build / "site"
    # The executed notebooks are static documents: a progress-bar widget would show as "0%" there.
    # The kernels inherit this process's environment, so set it for the runs and restore it after.
    previous = os.environ.get("TQDM_DISABLE")
    os.environ.setdefault("TQDM_DISABLE", "1")
    try:
        lines = [run_one(nb, build, papermill, site_dir) for nb in notebooks]
    finally:
        if previous is None:
            os.environ.pop("TQDM_DISABLE", None)
    # The site shows the notebooks just executed; their relative links are relative to where the
    # originals live (notebooks/), not to build/.
    executed = [build / nb.name for nb in notebooks if (build / nb.name).is_file()]
    index = None
    if executed:
        readme = root / "README.md" if root else None
        index = site.build_site(executed, site_dir, readme=readme, source_dir=notebooks[0].resolve().parent)
    print("\nSummary (executed notebooks in build/, their pages in build/site/):")
    print("\n".join(lines))
    print(f"Site: {index}" if index else "Site: not built (no executed notebook in build/)")
    return 0


def run_one(nb: Path, build: Path, papermill, site_dir: Path) -> str:
    """Execute one notebook into build/, return its summary line (its page will be in `site_dir`)."""
    out = build / nb.name
    print(f"--- {nb.name}", flush=True)
    start = time.perf_counter()
    papermill.execute_notebook(str(nb), str(out), cwd=str(nb.parent), progress_bar=False)
    seconds = time.perf_counter() - start
    page = (site_dir / f"{nb.stem}.html").relative_to(build)
    return f"{nb.stem}: {format_metrics(read_metrics(out))} ({seconds:.0f} s, {page})"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
