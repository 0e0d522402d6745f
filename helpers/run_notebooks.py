"""`make run`: execute every notebook in order with papermill into build/, render each to HTML,
and print one line per notebook from the numbers its last cell recorded with `report`.

    python -m helpers.run_notebooks [NOTEBOOK ...]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from helpers.data import repo_root
from helpers.metrics import format_metrics, read_metrics


def main(argv: list[str]) -> int:
    import os

    import papermill

    # The executed notebooks are static documents: a progress-bar widget would show as "0%" there.
    os.environ.setdefault("TQDM_DISABLE", "1")
    from nbconvert import HTMLExporter

    notebooks_dir, build = repo_root() / "notebooks", repo_root() / "build"
    notebooks = [Path(a) for a in argv] or sorted(notebooks_dir.glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        print(f"No notebooks in {notebooks_dir} yet: nothing to run.")
        return 0
    build.mkdir(exist_ok=True)
    lines = []
    for nb in notebooks:
        out = build / nb.name
        print(f"--- {nb.name}", flush=True)
        start = time.perf_counter()
        papermill.execute_notebook(str(nb), str(out), cwd=str(nb.parent), progress_bar=False)
        html, _ = HTMLExporter().from_filename(str(out))
        out.with_suffix(".html").write_text(html, encoding="utf-8")
        metrics = read_metrics(out)
        lines.append(f"{nb.stem}: {format_metrics(metrics)} ({time.perf_counter() - start:.0f} s, {out.with_suffix('.html').name})")
    print("\nSummary (executed notebooks and HTML in build/):")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
