"""The book tools (book/): the missing-parts plugin under CI and locally, and `make outputs`'
clean/regenerate path on a tiny synthetic notebook."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from book import notebooks, outputs

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parent.parent

SKIPPING = '''
import pytest

@pytest.mark.skipif(True, reason="no Chromium at /nowhere/chromium (apt-get install chromium)")
def test_browser():
    pass

@pytest.mark.skipif(True, reason="this machine has CUDA")
def test_cpu_only():
    pass

def test_fashion():
    pytest.skip("needs Fashion-MNIST offline: apt-get install dataset-fashion-mnist")

def test_passes():
    pass
'''


@pytest.fixture
def run_suite(pytester, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    pytester.makepyfile(test_parts=SKIPPING)
    pytester.makepyfile(test_import="import pytest\npytest.importorskip('no_such_module_here')\n")

    def run(ci: str | None):
        if ci is None:
            monkeypatch.delenv("CI", raising=False)
        else:
            monkeypatch.setenv("CI", ci)
        return pytester.runpytest_subprocess("-p", "book.parts", "-p", "no:cacheprovider", "-rs",
                                            "--continue-on-collection-errors")
    return run


def test_under_ci_a_missing_part_fails_the_run_and_names_the_package(run_suite):
    result = run_suite("true")
    result.assert_outcomes(passed=1, skipped=1, failed=1, errors=2)  # the CUDA skip stays a skip
    out = result.stdout.str()
    assert "To install it: apt-get install chromium" in out and "apt-get install dataset-fashion-mnist" in out
    assert "could not import 'no_such_module_here'" in out
    assert result.ret != 0


def test_locally_a_missing_part_skips_and_the_summary_says_what_to_install(run_suite):
    result = run_suite(None)
    result.assert_outcomes(passed=1, skipped=4)
    assert result.ret == 0
    out = result.stdout.str()
    assert "parts of the suite that did not run" in out
    assert "1 skipped: they need apt-get install chromium" in out
    assert "1 skipped: they need apt-get install dataset-fashion-mnist" in out
    section = out.split("did not run")[1].split("short test summary")[0]
    assert "no_such_module_here (pip install" in section and "CUDA" not in section


def test_environment_restores_every_variable_as_it_was(monkeypatch):
    monkeypatch.setenv("VAE_A", "before")
    monkeypatch.delenv("VAE_B", raising=False)
    with pytest.raises(RuntimeError), notebooks.environment(VAE_A="during", VAE_B="new"):
        assert os.environ["VAE_A"] == "during" and os.environ["VAE_B"] == "new"
        raise RuntimeError("a failing run restores them too")
    assert os.environ["VAE_A"] == "before" and "VAE_B" not in os.environ


def test_find_notebooks_lists_the_series_in_order(tmp_path):
    for name in ("02_b.ipynb", "01_a.ipynb", "notes.ipynb", "1_short.ipynb", "03_c.txt"):
        (tmp_path / name).write_text("{}")
    assert [p.name for p in notebooks.find_notebooks(tmp_path)] == ["01_a.ipynb", "02_b.ipynb"]


def tiny_notebook(path: Path, code: str) -> Path:
    nb = new_notebook(cells=[new_markdown_cell("# 01 · Tiny"),
                             new_code_cell("SEED = 0", metadata={"tags": ["parameters"]}),
                             new_code_cell(code)],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, path)
    return path


WIDGET_CELL = """import os
import ipywidgets
from IPython.display import display
print("source", os.environ["VAE_DATA_SOURCE"], "cache", os.path.basename(os.environ["VAE_CACHE_DIR"]),
      "tqdm", os.environ["TQDM_DISABLE"])
display(ipywidgets.IntSlider(3))
"""


@pytest.mark.notebook
def test_make_outputs_regenerates_a_notebook_in_place_cleaned(tmp_path, monkeypatch, capsys):
    (tmp_path / "notebooks").mkdir()
    nb = tiny_notebook(tmp_path / "notebooks" / "01_tiny.ipynb", WIDGET_CELL)
    stale = tmp_path / "build" / "outputs-cache" / "old-model.pt"
    stale.parent.mkdir(parents=True)
    stale.write_text("a model of an earlier run")
    monkeypatch.setattr(outputs, "checkout_root", lambda: tmp_path)
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    before = {k: os.environ.get(k) for k in ("VAE_DATA_SOURCE", "VAE_CACHE_DIR", "TQDM_DISABLE")}
    assert outputs.main([]) == 0
    assert "01_tiny.ipynb: regenerated in" in capsys.readouterr().out
    done = nbformat.read(nb, as_version=4)
    text = "".join(o.get("text", "") for o in done.cells[2].outputs)
    assert text == "source offline cache outputs-cache tqdm 1\n"  # the reference environment
    assert outputs.per_run_metadata(done) == []                    # no timestamps, papermill data, widget views
    assert done.metadata["vae_notebooks"]["reference_run"] == {"SEED": 0}  # the parameters cell, recorded
    assert any("text/plain" in o.get("data", {}) for o in done.cells[2].outputs)  # the widget's text stays
    assert "papermill" not in json.dumps(done.metadata) and not stale.exists()      # a fresh cache
    assert {k: os.environ.get(k) for k in before} == before        # the caller's environment is back


@pytest.mark.notebook
def test_make_outputs_leaves_a_failing_notebook_as_it_was(tmp_path, monkeypatch, capsys):
    (tmp_path / "notebooks").mkdir()
    good = tiny_notebook(tmp_path / "notebooks" / "02_good.ipynb", "print('fine')")
    bad = tiny_notebook(tmp_path / "notebooks" / "01_bad.ipynb", "raise ValueError('broken on purpose')")
    original = bad.read_text()
    monkeypatch.setattr(outputs, "checkout_root", lambda: tmp_path)
    assert outputs.main([]) == 1
    err = capsys.readouterr().err
    assert "01_bad.ipynb: FAILED, left as it was" in err and "broken on purpose" in err
    assert bad.read_text() == original                                            # nothing lost
    assert "broken on purpose" in (tmp_path / "build" / "outputs-failed" / "01_bad.ipynb").read_text()
    assert nbformat.read(good, as_version=4).cells[2].outputs[0]["text"] == "fine\n"  # the next one still ran


def test_make_outputs_outside_a_checkout_says_where_to_run_it(monkeypatch, capsys):
    monkeypatch.setattr(outputs, "checkout_root", lambda: None)
    assert outputs.main([]) == 2 and "checkout" in capsys.readouterr().err
