"""Committed notebooks diff cleanly: no execution timestamps, papermill metadata or live-widget
views (their random ids) in them. `make outputs` (book/outputs.py) regenerates the notebooks
without them; this test fails when a notebook was saved with them anyway.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from book.outputs import per_run_metadata

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS, f"no NN_name.ipynb in {ROOT / 'notebooks'}"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_committed_notebook_carries_no_per_run_metadata(notebook):
    found = per_run_metadata(nbformat.read(notebook, as_version=4))
    shown = found[:5] + ([f"... and {len(found) - 5} more"] if len(found) > 5 else [])
    assert found == [], f"{notebook.name}: per-run metadata {shown}; regenerate it with make outputs"


def test_the_check_sees_per_run_metadata():
    timestamp = {"iopub.status.busy": "2026-01-01T00:00:00Z"}
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1", metadata={"execution": timestamp})])
    nb.metadata["widgets"] = {}
    assert per_run_metadata(nb) == ["notebook metadata 'widgets'", "cell 0: metadata 'execution'"]
