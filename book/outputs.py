"""`make outputs`: regenerate the committed notebooks' outputs, deterministically.

Each notebook is executed with its default parameters (its reference run: the offline data, a
fresh checkpoint cache, progress bars off) and saved back in place, cleaned of everything that
changes from run to run without changing what a reader sees:

- execution timestamps and papermill's per-cell and per-notebook metadata;
- the live-widget part of widget outputs (a random model id) and the notebook's saved widget
  state: what remains of a widget output is its static picture and a line of text, which
  GitHub, JupyterLab before a run, and the series' web pages all show.

The exercises' worked solutions run too, in the same reference run: each solution's code is
appended as a cell (book.solutions), so a solution whose `claim(...)` is false raises ClaimError
and the notebook fails; then each solution's output (its printed text, its figures as attachments
of the markdown cell) is written into its collapsed block, after its code, replacing the output
written there before, and the appended cells are removed.

    python -m book.outputs [NOTEBOOK ...]      # all of notebooks/ by default

A notebook that fails is left as it was (its executed copy, with the error, is named), and the
run goes on to the next one; the exit status says whether any failed.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from book.notebooks import checkout_root, environment, execute, find_notebooks
from book.solutions import embed_outputs, find_solutions, solution_errors, with_solution_cells
from helpers.notebook import METADATA_KEY, parameters_cell

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


def record_reference_run(notebook: Path) -> None:
    """Copy the defaults of the notebook's parameters cell into its metadata, where
    helpers.notebook.REFERENCE_RUNS reads them (a learner's edit of the cell does not change them)."""
    nb = nbformat.read(notebook, as_version=4)
    reference = parameters_cell(notebook)
    if nb.metadata.get(METADATA_KEY, {}).get("reference_run") != reference:
        nb.metadata.setdefault(METADATA_KEY, {})["reference_run"] = reference
        nbformat.write(nb, notebook)


def regenerate(notebook: Path, cache: Path, failed_dir: Path) -> float:
    """Execute `notebook` at its defaults in the reference environment and save it cleaned, in place.
    Its reference run is recorded first (`record_reference_run`), so that the run checks every claim;
    its solutions run after its last cell and their outputs go into their blocks (book.solutions).
    If it fails (a solution's claim included), the notebook is left as it was and the executed copy is
    kept in `failed_dir`."""
    start = time.perf_counter()
    original = notebook.read_bytes()
    record_reference_run(notebook)
    (failed_dir / notebook.name).unlink(missing_ok=True)  # no copy of an earlier run can pass for this one's
    with tempfile.TemporaryDirectory() as tmp, \
            environment(VAE_DATA_SOURCE="offline", VAE_CACHE_DIR=str(cache), TQDM_DISABLE="1"):
        out = Path(tmp) / notebook.name
        try:
            source = Path(tmp) / f"with-solutions-{notebook.name}"
            nbformat.write(with_solution_cells(nbformat.read(notebook, as_version=4)), source)
            execute(source, out, cwd=notebook.parent)  # in the notebook's folder: its own reference run
            nb = embed_outputs(clean(nbformat.read(out, as_version=4)))
        except Exception as error:
            notebook.write_bytes(original)  # the notebook as it was, its record too
            failed_dir.mkdir(parents=True, exist_ok=True)
            if out.is_file():
                shutil.copy(out, failed_dir / notebook.name)
                raise_for_solutions(nbformat.read(out, as_version=4), error)
            raise
    nbformat.write(nb, notebook)
    return time.perf_counter() - start


def raise_for_solutions(executed: nbformat.NotebookNode, error: Exception) -> None:
    """If a solution failed in the executed copy, raise an error that names it (solution N: title)."""
    failed = solution_errors(executed)
    if failed:
        titles = {s.number: s.title for s in find_solutions(executed)}
        raise RuntimeError("; ".join(f"solution {n} ({titles.get(n, '?')}) failed in the reference run: {e[:400]}"
                                     for n, e in failed.items())) from error


def main(argv: list[str]) -> int:
    root = checkout_root()
    if root is None and not argv:
        print("make outputs: run it in a vae-notebooks checkout (or name the notebooks)", file=sys.stderr)
        return 2
    build = (root or Path.cwd()) / "build"
    notebooks = [Path(a).resolve() for a in argv] or find_notebooks(root / "notebooks")
    if not notebooks:
        print(f"make outputs: no notebooks (NN_name.ipynb) in {root / 'notebooks'}", file=sys.stderr)
        return 1
    cache = build / "outputs-cache"
    shutil.rmtree(cache, ignore_errors=True)  # a fresh cache: every model is trained, as CI does
    failed = []
    for nb in notebooks:
        print(f"--- {nb.name}", flush=True)
        try:
            print(f"{nb.name}: regenerated in {regenerate(nb, cache, build / 'outputs-failed'):.0f} s", flush=True)
        except Exception as error:  # papermill's error names the cell; the notebook is left as it was
            failed.append(nb.name)
            copy = build / "outputs-failed" / nb.name
            where = f"the executed copy is in {copy}" if copy.is_file() else "it did not run far enough to be saved"
            print(f"{nb.name}: FAILED, left as it was ({type(error).__name__}: {str(error).strip()[-500:]}); {where}",
                  file=sys.stderr, flush=True)
    if failed:
        print(f"make outputs: {len(failed)} of {len(notebooks)} notebooks failed: {', '.join(failed)}",
              file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
