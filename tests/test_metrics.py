import json

import nbformat
import pytest
from nbclient import NotebookClient

from helpers.metrics import MIME, read_metrics


def test_report_round_trips_through_an_executed_notebook(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(
        "import torch\nfrom helpers.metrics import report\n"
        "report(test_elbo=torch.tensor(-101.5), epochs=3, dataset='mnist', betas=(0.5, 1.0), seconds=1.25)")]
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    path = tmp_path / "done.ipynb"
    nbformat.write(nb, path)
    metrics = read_metrics(path)
    assert metrics == {"test_elbo": -101.5, "epochs": 3, "dataset": "mnist", "betas": [0.5, 1.0], "seconds": 1.25}
    output = nb.cells[0].outputs[0]
    assert output.output_type == "display_data" and MIME in output.data
    assert output.data["text/plain"].startswith("Metrics: test_elbo=-101.5, epochs=3")


def test_read_metrics_says_when_there_are_none(tmp_path):
    path = tmp_path / "empty.ipynb"
    path.write_text(json.dumps(nbformat.v4.new_notebook()))
    with pytest.raises(LookupError, match="report"):
        read_metrics(path)


def test_make_run_fails_loudly_when_there_are_no_notebooks(tmp_path, monkeypatch, capsys):
    from book import run_notebooks
    monkeypatch.setattr(run_notebooks, "checkout_root", lambda: tmp_path)
    (tmp_path / "notebooks").mkdir()
    assert run_notebooks.main([]) == 1
    assert "no notebooks" in capsys.readouterr().err
    assert not (tmp_path / "build").exists()


def test_make_run_outside_a_checkout_says_where_to_run_it(monkeypatch, capsys):
    from book import run_notebooks
    monkeypatch.setattr(run_notebooks, "checkout_root", lambda: None)
    assert run_notebooks.main([]) == 2
    assert "not in a vae-notebooks checkout" in capsys.readouterr().err


def test_make_run_leaves_the_environment_as_it_found_it(tmp_path, monkeypatch):
    import os

    from book import run_notebooks
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    monkeypatch.setattr(run_notebooks, "checkout_root", lambda: tmp_path)
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "01_x.ipynb").write_text("{}")
    seen = []

    def fake_run_one(nb, build):
        seen.append(os.environ.get("TQDM_DISABLE"))
        return 1.0

    monkeypatch.setattr(run_notebooks, "run_one", fake_run_one)
    monkeypatch.setattr(run_notebooks, "read_metrics", lambda path: {"claims_checked": 1, "claims_held": 1})
    monkeypatch.setattr("book.site.build_site", lambda notebooks, out, **kw: out / "index.html")
    assert run_notebooks.main([]) == 0
    assert seen == ["1"]                       # the kernels run without progress widgets ...
    assert "TQDM_DISABLE" not in os.environ    # ... and the caller's environment is restored
