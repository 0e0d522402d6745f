"""Each notebook run by papermill, as an instructor would: with small parameters (asserting on the
numbers its last cell records, and running every exercise's worked solution) and with bad ones
(it must stop at the parameter check). Also: the reference run of each notebook, in
helpers.notebook.REFERENCE_RUNS, must be the defaults of its parameters cell."""

import ast
import math
import re
import textwrap
from pathlib import Path

import nbformat
import papermill as pm
import pytest

from helpers.metrics import read_metrics
from helpers.notebook import REFERENCE_RUNS

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
NAMES = sorted(p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))

SMALL = {
    "01_autoencoder": {"EPOCHS": 1, "LATENT_DIM": 3, "HIDDEN": 64},
    "02_vae": {"EPOCHS": 1, "BETA": 4.0, "HIDDEN": 64},
    "03_elbo": {"EPOCHS": 1, "HIDDEN": 64, "K_MAX": 50, "N_EVAL": 40, "N_GAP": 10},
    "04_results": {"MAX_EPOCHS": 2, "PLATEAU": 1, "PATIENCE": 1, "HIDDEN": 32, "LATENT_DIM": 4, "SEEDS": [0, 1],
                   "BETAS": [1, 4], "LATENT_DIMS": [2, 4, 8], "K_EVAL": 20, "N_EVAL": 50},
    "05_going_further": {"DATASET": "mnist", "MAX_EPOCHS": 2, "PLATEAU": 1, "PATIENCE": 1, "HIDDEN": 32,
                         "N_TRAIN": 500, "N_TRAIN_CVAE": 1000, "K_EVAL": 10, "N_EVAL": 50},
}

BAD = {
    "01_autoencoder": [("LATENT_DIM", 0, "an integer >= 1"), ("DATASET", "nope", "'mnist', 'fashion-mnist'"),
                       ("ARCH", "transformer", "'mlp', 'conv'")],
    "02_vae": [("BETA", -1.0, "a number >= 0"), ("BINARIZE", "maybe", "'none', 'static', 'dynamic'"),
               ("LATENT_DIM", 0, "an integer >= 1"), ("N_TRAIN", -1, "an integer >= 0")],
    "03_elbo": [("K_MAX", 0, "an integer >= 1"), ("N_EVAL", -5, "an integer >= 1"), ("DEVICE", "gpu", "'auto', 'cpu'"),
                ("BINARIZE", "none", "'static' or 'dynamic'")],
    "04_results": [("BETAS", [1, -2], "a non-empty list of numbers >= 0"), ("LATENT_DIMS", "2, 5", "a non-empty list"),
                   ("K_EVAL", 0, "an integer >= 1"), ("SEEDS", [0, -1], "a non-empty list of integers"),
                   ("BINARIZE", "none", "'static' or 'dynamic'"), ("N_TEST", 2.5, "an integer >= 0")],
    "05_going_further": [("DATASET", "cifar", "'mnist', 'fashion-mnist'"), ("N_TRAIN", -1, "an integer >= 0"),
                         ("PATIENCE", 0, "an integer >= 1")],
}

SOLUTION = re.compile(r"<summary>Solution (\d+): ([^<]+)</summary>(.*?)</details>", re.S)
CODE = re.compile(r"```python\n(.*?)\n\s*```", re.S)


def parameters_cell(name: str) -> dict:
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    (cell,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    values = {}
    for node in ast.parse(cell.source).body:
        target = node.target if isinstance(node, ast.AnnAssign) else node.targets[0]
        values[target.id] = ast.literal_eval(node.value)
    return values


def solutions(name: str) -> list[tuple[str, str, str]]:
    """(number, title, code) of every worked solution in the notebook's markdown."""
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    found = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for number, title, body in SOLUTION.findall(cell.source):
                (code,) = CODE.findall(body)
                found.append((number, title.strip(), textwrap.dedent(code)))
    return found


def execute_with_solutions(name: str, out: Path, parameters: dict) -> Path:
    """Run the notebook with `parameters`, every solution appended as a cell after the last one."""
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    for number, title, code in solutions(name):
        cell = nbformat.v4.new_code_cell(f"# solution {number}: {title}\n{code}")
        cell.metadata["tags"] = ["solution"]
        nb.cells.append(cell)
    source = out.with_name(f"{name}-with-solutions.ipynb")
    nbformat.write(nb, source)
    try:
        pm.execute_notebook(str(source), str(out), parameters=parameters, cwd=str(NOTEBOOKS), kernel_name="python3",
                            progress_bar=False)
    except pm.PapermillExecutionError:
        pass  # the tests below say which cell failed
    return out


@pytest.fixture(scope="module")
def small_runs(tmp_path_factory):
    """Each notebook once, with small parameters and its solutions: shared by the tests below."""
    done = {}

    def run(name):
        if name not in done:
            done[name] = execute_with_solutions(name, tmp_path_factory.mktemp(name) / f"{name}.ipynb", SMALL[name])
        return done[name]
    return run


def errors(path: Path) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    return [f"cell {i}: {o['ename']}: {o['evalue'][:300]}" for i, c in enumerate(nb.cells) if c.cell_type == "code"
            for o in c.get("outputs", []) if o.get("output_type") == "error"]


@pytest.mark.parametrize("name", NAMES)
def test_the_reference_run_is_the_notebooks_defaults(name):
    assert REFERENCE_RUNS[name] == parameters_cell(name)


@pytest.mark.parametrize("name", NAMES)
def test_every_exercise_has_a_worked_solution(name):
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    exercises = next(c.source for c in nb.cells if c.cell_type == "markdown" and "## Exercises" in c.source)
    numbered = re.findall(r"^(\d+)\. \*\*", exercises, re.M)
    assert numbered and [n for n, _, _ in solutions(name)] == numbered


@pytest.mark.notebook
@pytest.mark.parametrize("name, number, title",
                         [(n, number, title) for n in NAMES for number, title, _ in solutions(n)])
def test_solution(name, number, title, small_runs):
    """Every worked solution runs: test_solution[01_autoencoder-1-linear autoencoder] ..."""
    nb = nbformat.read(small_runs(name), as_version=4)
    (cell,) = [c for c in nb.cells if c.source.startswith(f"# solution {number}:")]
    failed = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    assert cell.get("execution_count") is not None, f"not reached: {errors(small_runs(name))}"
    assert not failed, f"{failed[0]['ename']}: {failed[0]['evalue']}"
    assert cell.get("outputs"), "a solution shows its result"


def small_metrics(small_runs, name):
    path = small_runs(name)
    assert not [e for e in errors(path) if "solution" not in e], errors(path)
    m = read_metrics(path)
    assert m["reference_run"] is False and 0 < m["claims_held"] <= m["claims_checked"]
    return m


@pytest.mark.notebook
def test_01_small_run_records_its_numbers(small_runs):
    m = small_metrics(small_runs, "01_autoencoder")
    assert m["latent_dim"] == 3 and m["epochs"] == 1 and m["dataset"] == "mnist" and m["source"].startswith("offline")
    # learned something, and no better than the entropy of the grey pixels allows
    assert m["cross_entropy_floor"] < m["test_reconstruction"] < 784 * math.log(2)
    assert 20 < m["cross_entropy_floor"] < 100
    assert set(m["sweep_test_reconstruction"]) == set(m["holes_fraction_by_latent_dim"]) == {"2", "8", "32"}
    assert all(0 <= f <= 1 for f in m["holes_fraction_by_latent_dim"].values())


@pytest.mark.notebook
def test_02_small_run_records_its_numbers(small_runs):
    m = small_metrics(small_runs, "02_vae")
    assert m["beta"] == 4.0 and m["epochs"] == 1 and m["binarize"] == "dynamic" and m["latent_dim"] == 2
    assert m["test_elbo"] == pytest.approx(-(m["test_reconstruction"] + m["test_kl"]))
    assert -784 * math.log(2) < m["test_elbo"] < -60 and m["test_kl"] >= 0
    # the score function is noisier than the reparameterized gradient even after one epoch
    assert m["grad_sd_score_encoder"] > 10 * m["grad_sd_reparam_encoder"] > 0
    assert m["active_units_20d_beta8"] <= m["active_units_20d"]


@pytest.mark.notebook
def test_03_small_run_records_its_numbers(small_runs):
    m = small_metrics(small_runs, "03_elbo")
    assert m["K_MAX"] == 50 and m["N_EVAL"] == 40 and m["N_GAP"] == 10
    assert m["exact_model_largest_identity_error"] < 1e-9 and m["exact_model_final_gap"] < 1e-3
    assert m["mnist_log_likelihood"] >= m["mnist_mean_elbo"] - 1.0  # L_50 above the ELBO, up to noise
    assert m["mnist_mean_gap"] == pytest.approx(m["mnist_log_likelihood"] - m["mnist_mean_elbo"], abs=1e-3)
    assert m["mnist_log_likelihood_bits_per_dim"] == pytest.approx(-m["mnist_log_likelihood"] / (784 * math.log(2)))
    assert 0 < m["gap_share_top_decile"] <= 1 and m["amortization_gap"] > -0.5 and m["approximation_gap"] > -0.5


@pytest.mark.notebook
def test_04_small_run_records_its_numbers(small_runs):
    m = small_metrics(small_runs, "04_results")
    assert m["seeds"] == [0, 1] and m["max_epochs"] == 2 and m["binarize"] == "dynamic"
    assert set(m["nll_by_beta"]) == set(m["active_units_by_beta"]) == {"1", "4"}
    assert set(m["nll_by_latent_dim"]) == set(m["active_units_by_latent_dim"]) == {"2", "4", "8"}
    # the sweeps share the main model, and the headline is the mean over its seeds
    assert m["nll_by_beta"]["1"] == m["nll_by_latent_dim"]["4"] == m["test_nll_by_seed"]["0"]
    assert m["test_nll_mean"] == pytest.approx(sum(m["test_nll_by_seed"].values()) / 2)
    assert m["nll_collapsed"] == m["nll_by_latent_dim"]["8"] and m["active_units_collapsed"] <= 8
    assert all(0 <= m["active_units_by_latent_dim"][d] <= int(d) for d in ("2", "4", "8"))
    assert m["rate_by_beta"]["4"] < m["rate_by_beta"]["1"]           # a larger beta buys a lower rate ...
    assert m["distortion_by_beta"]["4"] > m["distortion_by_beta"]["1"]  # ... with more distortion
    assert all(0 < v < 784 * math.log(2) for v in m["nll_by_beta"].values())
    assert m["ptx_recipe_test_bce"] > m["grey_cross_entropy_floor"] > 20  # a cross-entropy never beats the entropy
    assert all(1 <= m["best_epoch_by_model"][k] <= m["epochs_run_by_model"][k] <= 2 for k in m["best_epoch_by_model"])


@pytest.mark.notebook
def test_05_small_run_records_its_numbers(small_runs):
    m = small_metrics(small_runs, "05_going_further")
    assert m["dataset"] == "mnist" and m["n_train_conv_comparison"] == 500 and m["n_train_cvae"] == 1000
    assert abs(m["conv_params"] - m["mlp_params"]) < 0.05 * m["mlp_params"]
    by_class = m["cvae_label_accuracy_by_class"]
    assert len(by_class) == 10 and m["cvae_label_accuracy"] == pytest.approx(sum(by_class.values()) / 10)
    assert 0.5 < m["classifier_accuracy"] <= 1 and all(0 <= v <= 1 for v in by_class.values())
    assert 0 < m["mlp_nll"] < 784 * math.log(2) and 0 < m["conv_nll"] < 784 * math.log(2)
    assert -1 <= m["style_correlation"] <= 1


# In a kernel (papermill): the first case of each notebook, and 04's own check of BINARIZE; the
# other cases go through the same check_parameters in this process (a kernel start each costs seconds).
IN_A_KERNEL = [(n, *cases[0]) for n, cases in BAD.items() if n in NAMES] + [
    (n, p, v, ok) for n, cases in BAD.items() if n in NAMES for p, v, ok in cases if p == "BINARIZE" and v == "none"]


@pytest.mark.parametrize("name, parameter, value, valid",
                         [(n, p, v, ok) for n, cases in BAD.items() if n in NAMES for p, v, ok in cases
                          if (n, p, v, ok) not in IN_A_KERNEL])
def test_bad_parameters_get_the_notebooks_error(name, parameter, value, valid):
    from helpers.notebook import check_parameters
    with pytest.raises(ValueError) as err:
        check_parameters(**{**parameters_cell(name), parameter: value})
    assert f"{parameter}={value!r}" in str(err.value) and valid in str(err.value)


@pytest.mark.notebook
@pytest.mark.parametrize("name, parameter, value, valid", IN_A_KERNEL)
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
