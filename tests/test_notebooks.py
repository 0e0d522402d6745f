"""Each notebook run by papermill, as an instructor would: with small parameters (asserting on the
numbers its last cell records) and with bad ones (it must stop at the parameter check)."""

from pathlib import Path

import nbformat
import papermill as pm
import pytest

from helpers.metrics import read_metrics

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"

SMALL = {
    "01_autoencoder": {"EPOCHS": 1, "LATENT_DIM": 3, "HIDDEN": 64},
    "02_vae": {"EPOCHS": 1, "BETA": 4.0, "HIDDEN": 64, "BINARIZE": "dynamic"},
    "03_elbo": {"EPOCHS": 1, "HIDDEN": 64, "K_MAX": 50, "N_EVAL": 40, "BINARIZE": "static"},
    "04_results": {"EPOCHS": 2, "HIDDEN": 64, "LATENT_DIM": 5, "BETAS": [1, 4], "LATENT_DIMS": [2, 5], "K_EVAL": 20},
}

BAD = {
    "01_autoencoder": [("LATENT_DIM", 0, "an integer >= 1"), ("DATASET", "nope", "'mnist', 'fashion-mnist'"),
                       ("ARCH", "transformer", "'mlp', 'conv'")],
    "02_vae": [("BETA", -1.0, "a number >= 0"), ("BINARIZE", "maybe", "'none', 'static', 'dynamic'"),
               ("LATENT_DIM", 0, "an integer >= 1")],
    "03_elbo": [("K_MAX", 0, "an integer >= 1"), ("N_EVAL", -5, "an integer >= 1"), ("DEVICE", "gpu", "'auto', 'cpu'")],
    "04_results": [("BETAS", [1, -2], "a non-empty list of numbers >= 0"), ("LATENT_DIMS", "2, 5", "a non-empty list"),
                   ("K_EVAL", 0, "an integer >= 1")],
}


def execute(name, tmp_path, parameters):
    out = tmp_path / f"{name}.ipynb"
    pm.execute_notebook(str(NOTEBOOKS / f"{name}.ipynb"), str(out), parameters=parameters,
                        cwd=str(NOTEBOOKS), kernel_name="python3", progress_bar=False)
    return out


@pytest.mark.notebook
def test_01_small_run_records_its_numbers(tmp_path):
    m = read_metrics(execute("01_autoencoder", tmp_path, SMALL["01_autoencoder"]))
    assert m["latent_dim"] == 3 and m["epochs"] == 1 and m["dataset"] == "mnist"
    assert m["source"].startswith("offline")
    assert 100 < m["test_reconstruction"] < 543  # learned something: below the 784 ln 2 of a coin flip
    assert set(m["sweep_test_reconstruction"]) == {"2", "8", "32"}
    assert m["seconds"] > 0


@pytest.mark.notebook
@pytest.mark.parametrize("name, parameter, value, valid",
                         [(n, p, v, ok) for n, cases in BAD.items() for p, v, ok in cases])
def test_bad_parameters_stop_at_the_check(name, parameter, value, valid, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("VAE_CACHE_DIR", str(cache))
    out = tmp_path / "failed.ipynb"
    with pytest.raises(pm.PapermillExecutionError) as err:
        pm.execute_notebook(str(NOTEBOOKS / f"{name}.ipynb"), str(out), parameters={parameter: value},
                            cwd=str(NOTEBOOKS), kernel_name="python3", progress_bar=False)
    assert err.value.ename == "ValueError"
    assert f"{parameter}={value!r}" in err.value.evalue and valid in err.value.evalue
    cells = nbformat.read(out, as_version=4).cells
    failed = [i for i, c in enumerate(cells) if any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    assert len(failed) == 1 and "check_parameters(" in cells[failed[0]].source
    assert all(c.get("execution_count") is None for c in cells[failed[0] + 1:] if c.cell_type == "code")
    assert not cache.exists()  # nothing trained, nothing cached


@pytest.mark.notebook
def test_02_small_run_records_its_numbers(tmp_path):
    m = read_metrics(execute("02_vae", tmp_path, SMALL["02_vae"]))
    assert m["beta"] == 4.0 and m["epochs"] == 1 and m["binarize"] == "dynamic" and m["latent_dim"] == 2
    assert m["test_elbo"] == pytest.approx(-(m["test_reconstruction"] + m["test_kl"]))
    assert -543 < m["test_elbo"] < -60 and m["test_kl"] >= 0
    assert 0 <= m["active_units"] <= 2 and 0 <= m["active_units_20d"] <= 20


@pytest.mark.notebook
def test_03_small_run_records_its_numbers(tmp_path):
    m = read_metrics(execute("03_elbo", tmp_path, SMALL["03_elbo"]))
    assert m["K_MAX"] == 50 and m["N_EVAL"] == 40
    assert m["exact_model_largest_identity_error"] < 1e-9 and m["exact_model_final_gap"] < 1e-3
    assert m["mnist_log_likelihood"] >= m["mnist_mean_elbo"] - 1.0  # L_50 above the ELBO, up to noise
    assert m["mnist_mean_gap"] == pytest.approx(m["mnist_log_likelihood"] - m["mnist_mean_elbo"], abs=1e-3)
    assert m["mnist_log_likelihood_bits_per_dim"] == pytest.approx(-m["mnist_log_likelihood"] / (784 * 0.6931471805599453))


@pytest.mark.notebook
def test_04_small_run_records_its_numbers(tmp_path):
    m = read_metrics(execute("04_results", tmp_path, SMALL["04_results"]))
    assert m["epochs"] == 2 and m["K_EVAL"] == 20 and m["binarize"] == "dynamic"
    assert set(m["rate_by_beta"]) == {"1", "4"} and set(m["elbo_by_latent_dim"]) == {"2", "5"}
    assert m["rate_by_beta"]["4"] < m["rate_by_beta"]["1"]          # a larger beta buys a lower rate ...
    assert m["distortion_by_beta"]["4"] > m["distortion_by_beta"]["1"]  # ... with more distortion
    assert m["test_nll_is"] <= -m["test_elbo"] + 1.0               # L_K is at least the ELBO, up to noise
    assert 0.5 < m["classifier_accuracy"] <= 1 and 0 <= m["sample_class_entropy"] <= 2.3026
    assert m["active_units_by_latent_dim"]["2"] <= 2
