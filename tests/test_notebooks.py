"""Each notebook run by papermill, as an instructor would: with small parameters (asserting on the
numbers its last cell records, and running every exercise's worked solution: it must not raise at
other settings) and with bad ones (it must stop at the parameter check). Every worked solution runs
in its notebook's reference run too (its claims raise there): these tests run after the nbval items,
whose cached models they reuse (conftest.py), and each solution's output must be committed in its
block (make outputs writes it). Also: the reference run of each notebook, in
helpers.notebook.REFERENCE_RUNS, must be the defaults of its parameters cell, as recorded by make outputs."""

import ast
import math
import os
import re
from pathlib import Path

import nbformat
import papermill as pm
import pytest

from book import solutions as book_solutions
from helpers.metrics import read_metrics
from helpers.notebook import REFERENCE_RUNS

# The coin-flip model (every logit 0) costs 784 log 2 = 543.4 nats on any binary image: a model that has
# trained at all scores better, so a likelihood or -ELBO above this means the numbers are not nats/image.
COIN_FLIP = 784 * math.log(2)

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
NAMES = sorted(p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))

SMALL = {
    "01_autoencoder": {"EPOCHS": 1, "LATENT_DIM": 3, "HIDDEN": 64},
    "02_vae": {"EPOCHS": 1, "BETA": 4.0, "HIDDEN": 64},
    "03_elbo": {"MAX_EPOCHS": 2, "PLATEAU": 1, "PATIENCE": 1, "HIDDEN": 64, "K_MAX": 50, "N_EVAL": 40, "N_GAP": 10,
                "GAP_K": 50},
    "04_results": {"MAX_EPOCHS": 2, "PATIENCE": 1, "HIDDEN": 32, "LATENT_DIM": 4, "SEEDS": [0, 1],
                   "BETAS": [1, 4], "LATENT_DIMS": [2, 4, 8], "K_EVAL": 20, "N_EVAL": 50},
    "05_going_further": {"DATASET": "mnist", "MAX_EPOCHS": 2, "PATIENCE": 1, "HIDDEN": 32,
                         "N_TRAIN": 500, "N_TRAIN_CVAE": 1000, "K_EVAL": 10, "N_EVAL": 50},
}

BAD = {
    "01_autoencoder": [("LATENT_DIM", 0, "an integer >= 1"), ("DATASET", "nope", "'mnist', 'fashion-mnist'"),
                       ("ARCH", "transformer", "'mlp', 'conv'")],
    "02_vae": [("BETA", -1.0, "a number >= 0"), ("BINARIZE", "maybe", "'none', 'static', 'dynamic'"),
               ("LATENT_DIM", 0, "an integer >= 1"), ("N_TRAIN", -1, "an integer >= 0")],
    "03_elbo": [("K_MAX", 0, "an integer >= 1"), ("N_EVAL", -5, "an integer >= 1"), ("DEVICE", "gpu", "'auto', 'cpu'"),
                ("BINARIZE", "none", "'static' or 'dynamic'"), ("GAP_K", 0, "an integer >= 1")],
    "04_results": [("BETAS", [1, -2], "a non-empty list of numbers >= 0"), ("LATENT_DIMS", "2, 5", "a non-empty list"),
                   ("K_EVAL", 0, "an integer >= 1"), ("SEEDS", [0, -1], "a non-empty list of integers"),
                   ("BINARIZE", "none", "'static' or 'dynamic'"), ("N_TEST", 2.5, "an integer >= 0"),
                   ("EMA", 1.0, "a number >= 0 and < 1")],
    "05_going_further": [("DATASET", "cifar", "'mnist', 'fashion-mnist'"), ("N_TRAIN", -1, "an integer >= 0"),
                         ("PATIENCE", 0, "an integer >= 1")],
}

def parameters_cell(name: str) -> dict:
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    (cell,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    values = {}
    for node in ast.parse(cell.source).body:
        target = node.target if isinstance(node, ast.AnnAssign) else node.targets[0]
        values[target.id] = ast.literal_eval(node.value)
    return values


def solutions(name: str) -> list[tuple[str, str, str]]:
    """(number, title, code) of every worked solution in the notebook's markdown (its code alone, never the
    output make outputs embeds after it)."""
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    return [(s.number, s.title, s.code) for s in book_solutions.find_solutions(nb)]


def device_parameter() -> dict:
    """DEVICE for a notebook run: $VAE_TEST_DEVICE when set (VAE_TEST_DEVICE=cuda make test runs the notebooks on
    the GPU), else nothing: the notebook's own default."""
    device = os.environ.get("VAE_TEST_DEVICE")
    return {"DEVICE": device} if device else {}


def execute_with_solutions(name: str, out: Path, parameters: dict, folder: Path = NOTEBOOKS,
                           test_device: bool = True) -> Path:
    """Run the notebook with `parameters`, every solution appended as a cell after the last one.

    A solution cell is tagged `raises-exception`, so a failing solution does not stop the ones after it
    (its own test fails). Any error outside the solutions fails the run here, with its message. With no
    `parameters` and not `test_device` ($VAE_TEST_DEVICE is not passed) it is the notebook's reference run
    (its defaults, on the CPU): a solution's false claim raises."""
    nb = book_solutions.with_solution_cells(nbformat.read(folder / f"{name}.ipynb", as_version=4),
                                            tags=("raises-exception",))
    source = out.with_name(f"{name}-with-solutions.ipynb")
    nbformat.write(nb, source)
    try:
        device = device_parameter() if test_device else {}
        pm.execute_notebook(str(source), str(out), parameters={**parameters, **device}, cwd=str(folder),
                            kernel_name="python3", progress_bar=False)
    except pm.PapermillExecutionError:
        failed = errors(out, solutions=False)
        if failed:
            raise AssertionError(f"{name} with {parameters} fails outside its solutions: {failed}") from None
    return out


def remembered_runs(tmp_path_factory, parameters, test_device: bool = True):
    """A function name -> the executed notebook (run once with its solutions, `parameters(name)`): the tests of
    one notebook share its run; an error outside the solutions fails each of them, and none reruns it."""
    done = {}

    def run(name):
        if name not in done:
            try:
                done[name] = execute_with_solutions(name, tmp_path_factory.mktemp(name) / f"{name}.ipynb",
                                                    parameters(name), test_device=test_device)
            except AssertionError as err:
                done[name] = err
        if isinstance(done[name], AssertionError):
            raise done[name]
        return done[name]
    return run


@pytest.fixture(scope="module")
def small_runs(tmp_path_factory):
    """Each notebook once, with small parameters and its solutions: shared by the tests below."""
    return remembered_runs(tmp_path_factory, lambda name: SMALL[name])


@pytest.fixture(scope="module")
def reference_runs(tmp_path_factory):
    """Each notebook once at its defaults (its reference run: a false claim raises), with its solutions, in the
    test run's cache: after the nbval items (conftest.py orders them), its models load from there. On the CPU,
    whatever $VAE_TEST_DEVICE says (a run on another device is not the reference run)."""
    return remembered_runs(tmp_path_factory, lambda name: {}, test_device=False)


def errors(path: Path, solutions: bool = True) -> list[str]:
    """The errors in an executed notebook, one line per cell; without the solution cells' if not `solutions`."""
    nb = nbformat.read(path, as_version=4)
    return [f"cell {i}: {o['ename']}: {o['evalue'][:300]}" for i, c in enumerate(nb.cells) if c.cell_type == "code"
            if solutions or "solution" not in c.metadata.get("tags", [])
            for o in c.get("outputs", []) if o.get("output_type") == "error"]


@pytest.mark.parametrize("name", NAMES)
def test_the_recorded_reference_run_is_the_notebooks_defaults(name):
    """The committed notebook records the defaults of its parameters cell as its reference run (make
    outputs writes them): a default changed without re-making the outputs fails here."""
    assert REFERENCE_RUNS[name] == parameters_cell(name)


def test_the_reference_run_is_the_record_not_a_learners_edit_of_the_cell(tmp_path, monkeypatch):
    """Installed outside a checkout, a notebook runs in its own folder: its file there is read. A
    learner who edits a default and saves does not make their run the reference run; make outputs
    records the cell anew; without a file or a record there is no reference run, and the run says why."""
    import torch

    from book.outputs import record_reference_run
    from helpers import notebook
    from helpers.data import ImageData

    monkeypatch.setattr(notebook, "checkout_root", lambda: None)
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "07_mine.ipynb"
    cell = nbformat.v4.new_code_cell("EPOCHS: int = 3  # epochs\nNAMES = ['a', 'b']\nLR = 1e-3",
                                     metadata={"tags": ["parameters"]})
    nbformat.write(nbformat.v4.new_notebook(cells=[cell]), path)
    x = torch.zeros(2, 1, 28, 28)
    offline = ImageData("mnist", "offline (test)", x, torch.zeros(2), x, torch.zeros(2))
    (unrecorded,) = notebook.differences_from_reference("07_mine", {"EPOCHS": 3}, offline, "cpu")
    assert "records no reference run" in unrecorded and "07_mine" not in REFERENCE_RUNS
    record_reference_run(path)
    assert REFERENCE_RUNS["07_mine"] == {"EPOCHS": 3, "NAMES": ["a", "b"], "LR": 1e-3} and list(REFERENCE_RUNS) == [
        "07_mine"]
    nb = nbformat.read(path, as_version=4)
    nb.cells[0].source = "EPOCHS = 4\nNAMES = ['a', 'b']\nLR = 1e-3"  # the learner's edit, saved
    nbformat.write(nb, path)
    assert notebook.differences_from_reference("07_mine", {"EPOCHS": 4, "NAMES": ["a", "b"], "LR": 1e-3}, offline,
                                               "cpu") == ["EPOCHS=4 instead of 3"]
    record_reference_run(path)  # make outputs: the cell is the source
    assert REFERENCE_RUNS["07_mine"]["EPOCHS"] == 4
    (missing,) = notebook.differences_from_reference("08_gone", {"EPOCHS": 4}, offline, "cpu")
    assert "08_gone.ipynb is not in the working directory" in missing
    nb.cells[0].source = "EPOCHS = 2 * 2"
    nbformat.write(nb, path)
    with pytest.raises(ValueError, match="EPOCHS must be a literal"):
        record_reference_run(path)


@pytest.mark.parametrize("name", NAMES)
def test_every_exercise_has_a_worked_solution(name):
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    exercises = next(c.source for c in nb.cells if c.cell_type == "markdown" and "## Exercises" in c.source)
    numbered = re.findall(r"^(\d+)\. \*\*", exercises, re.M)
    assert numbered and [n for n, _, _ in solutions(name)] == numbered


def solution_cell(path: Path, number: str) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    return book_solutions.solution_cells(nb)[number]


@pytest.mark.notebook
@pytest.mark.after_nbval
@pytest.mark.parametrize("name, number, title",
                         [(n, number, title) for n in NAMES for number, title, _ in solutions(n)])
def test_solution_holds_in_the_reference_run(name, number, title, reference_runs):
    """Every worked solution runs in its notebook's reference run, and its claims hold there (a false one
    raises ClaimError): test_solution_holds_in_the_reference_run[01_autoencoder-1-linear autoencoder] ..."""
    cell = solution_cell(reference_runs(name), number)
    failed = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    assert cell.get("execution_count") is not None, f"solution {number} not reached: {errors(reference_runs(name))}"
    assert not failed, f"solution {number} ({title}): {failed[0]['ename']}: {failed[0]['evalue']}"
    assert cell.get("outputs"), f"solution {number} ({title}) shows no result"


@pytest.mark.notebook
@pytest.mark.parametrize("name", NAMES)
def test_solutions_run_at_other_parameters(name, small_runs):
    """Every worked solution runs in the small run too (a learner's other settings): where its claims do not
    hold they are notes there, but it must not raise."""
    failed = {n: e for n, e in book_solutions.solution_errors(nbformat.read(small_runs(name), as_version=4)).items()}
    assert not failed, f"{name} with {SMALL[name]}: " + "; ".join(f"solution {n}: {e[:300]}" for n, e in failed.items())


@pytest.mark.parametrize("name", NAMES)
def test_every_solution_has_its_committed_output(name):
    """make outputs writes each solution's reference-run output into its block, after its code: each has one, and
    every image it names is attached to the cell."""
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    missing = []
    for s in book_solutions.find_solutions(nb):
        cell = nb.cells[s.cell]
        block = re.search(rf"<!-- output of solution {s.number} -->(.*?)<!-- end of the output of solution {s.number}",
                          cell.source, re.S)
        if block is None or book_solutions.HEADING not in block.group(1):
            missing.append(f"solution {s.number} ({s.title}): no committed output (run make outputs)")
            continue
        for image in re.findall(r"\(attachment:([^)]+)\)", block.group(1)):
            if image not in cell.get("attachments", {}):
                missing.append(f"solution {s.number}: {image} is not attached to its cell")
    assert not missing, "; ".join(missing)


def small_metrics(small_runs, name):
    """The metrics of the small run (which ran without an error outside its solutions: small_runs checks it)."""
    m = read_metrics(small_runs(name))
    assert m["reference_run"] is False and m["claims_held"] > 0  # the claims ran, as notes, and some hold
    return m


def grey_entropy(images) -> float:
    """The mean entropy of the grey images, read as Bernoulli probabilities (nats/image): the floor of any
    cross-entropy on them (Gibbs' inequality), computed here by torch.distributions, not as the notebooks do."""
    from torch.distributions import Bernoulli
    return Bernoulli(probs=images.double().clamp(1e-6, 1 - 1e-6)).entropy().sum((1, 2, 3)).mean().item()


@pytest.mark.notebook
def test_01_small_run_records_its_numbers(small_runs, mnist):
    m = small_metrics(small_runs, "01_autoencoder")
    assert m["latent_dim"] == 3 and m["epochs"] == 1 and m["dataset"] == "mnist" and m["source"].startswith("offline")
    # the floor is the entropy of the test images (wrong split, a mean over pixels, the wrong sign: all fail) ...
    assert m["cross_entropy_floor"] == pytest.approx(grey_entropy(mnist.x_test), rel=1e-3)
    # ... and the trained model lies between it and the coin flip: it learned something, and cannot beat the floor
    assert m["cross_entropy_floor"] < m["test_reconstruction"] < COIN_FLIP
    assert set(m["sweep_test_reconstruction"]) == set(m["holes_fraction_by_latent_dim"]) == {"2", "8", "32"}


@pytest.mark.notebook
def test_02_small_run_records_its_numbers(small_runs):
    m = small_metrics(small_runs, "02_vae")
    assert m["beta"] == 4.0 and m["epochs"] == 1 and m["binarize"] == "dynamic" and m["latent_dim"] == 2
    # above the coin flip (trained), below Burda et al.'s 86.76 nats (a VAE trained to convergence on all 60,000
    # digits: the ELBO lies below log p(x), and one epoch on 3,600 digits comes nowhere near that log p(x))
    assert -COIN_FLIP < m["test_elbo"] < -86.76 and m["test_elbo_20d"] < -86.76
    # the score function is noisier than the reparameterized gradient even after one epoch
    assert m["grad_sd_score_encoder"] > 10 * m["grad_sd_reparam_encoder"] > 0
    assert m["active_units_20d_beta8"] <= m["active_units_20d"]


@pytest.mark.notebook
def test_03_small_run_records_its_numbers(small_runs):
    m = small_metrics(small_runs, "03_elbo")
    assert m["K_MAX"] == 50 and m["N_EVAL"] == 40 and m["N_GAP"] == 10
    assert m["exact_model_largest_identity_error"] < 1e-9 and m["exact_model_final_gap"] < 1e-3
    # E[L_K] rises with K from the ELBO (K = 1; Burda et al., theorem 1). After one epoch the steps are nats wide
    # (a small run on the 2-core CPU: ELBO -318.9, L_10 -293.2, L_50 -287.2), far beyond the noise of a mean over
    # 40 images (test_elbo checks the rise against its standard errors): strict, no slack
    lk = m["mnist_lk_by_k"]
    assert set(lk) == {"10", "50"} and m["mnist_log_likelihood"] == lk["50"]
    assert m["mnist_mean_elbo"] < lk["10"] < lk["50"] < -86.76  # and below the converged log p(x) of Burda et al.
    # q* starts at the encoder's q and ascends each image's ELBO: it ends higher (ELBOs of 1,000 samples each)
    assert m["amortization_gap"] > 0
    assert m["gap_k"] == 50 and m["approximation_gap_se"] > 0 and m["amortization_gap_se"] > 0
    assert 1 <= m["epochs_run"] <= 2


@pytest.mark.notebook
def test_04_small_run_records_its_numbers(small_runs, mnist):
    m = small_metrics(small_runs, "04_results")
    assert m["seeds"] == [0, 1] and m["max_epochs"] == 2 and m["binarize"] == "dynamic"
    assert set(m["nll_by_beta"]) == set(m["active_units_by_beta"]) == {"1", "4"}
    assert set(m["nll_by_latent_dim"]) == set(m["active_units_by_latent_dim"]) == {"2", "4", "8"}
    # the sweeps share the main model, and the headline is the mean over its seeds
    assert m["nll_by_beta"]["1"] == m["nll_by_latent_dim"]["4"] == m["test_nll_by_seed"]["0"]
    assert m["nll_collapsed"] == m["nll_by_latent_dim"]["8"]  # the collapse section reuses the widest sweep model
    # the widest code is trained with every seed and compared with the main size seed by seed
    assert set(m["nll_wide_minus_main_by_seed"]) == {"0", "1"} and "dim 8, seed 1" in m["best_epoch_by_model"]
    low, high = m["nll_wide_minus_main_interval"]
    assert low < sum(m["nll_wide_minus_main_by_seed"].values()) / 2 < high
    assert m["rate_by_beta"]["4"] < m["rate_by_beta"]["1"]           # a larger beta buys a lower rate ...
    assert m["distortion_by_beta"]["4"] > m["distortion_by_beta"]["1"]  # ... with more distortion
    # between Burda et al.'s converged 86.76 nats (two epochs on 3,600 digits cannot reach it) and the coin flip
    assert all(86.76 < v < COIN_FLIP for v in [*m["nll_by_beta"].values(), *m["nll_by_latent_dim"].values()])
    # the floor is the grey test images' entropy, and a cross-entropy never beats the entropy (Gibbs' inequality)
    assert m["grey_cross_entropy_floor"] == pytest.approx(grey_entropy(mnist.x_test), rel=1e-3)
    assert m["ptx_recipe_test_bce"] > m["grey_cross_entropy_floor"]
    assert all(1 <= m["best_epoch_by_model"][k] <= m["epochs_run_by_model"][k] <= 2 for k in m["best_epoch_by_model"])


@pytest.mark.notebook
def test_05_small_run_records_its_numbers(small_runs):
    m = small_metrics(small_runs, "05_going_further")
    assert m["dataset"] == "mnist" and m["n_train_conv_comparison"] == 500 and m["n_train_cvae"] == 1000
    assert abs(m["conv_params"] - m["mlp_params"]) < 0.05 * m["mlp_params"]
    assert list(m["cvae_label_accuracy_by_class"]) == [str(c) for c in range(10)]  # MNIST's class names
    assert m["classifier_accuracy"] > 0.5  # five epochs on 3,600 digits: far above chance (0.1)
    assert 86.76 < m["mlp_nll"] < COIN_FLIP and 86.76 < m["conv_nll"] < COIN_FLIP  # as in 04
    # one NLL per seed and model, their paired difference with its standard error, the coin-flip floor under them
    assert list(m["conv_nll_by_seed"]) == list(m["mlp_nll_by_seed"]) == [str(s) for s in m["seeds"]]
    low, high = m["conv_minus_mlp_interval"]
    assert low <= m["conv_minus_mlp_paired"][0] <= high and m["conv_minus_mlp_paired"][1] > 0
    assert m["fashion_binarization_floor"] == pytest.approx(46.4, abs=0.05)   # MNIST's, as 04's grey floor
    assert all(v > m["floor_of_nll_images"] for v in [*m["mlp_nll_by_seed"].values(), *m["conv_nll_by_seed"].values()])


@pytest.mark.parametrize("name", ["04_results", "05_going_further"])
def test_the_committed_reference_run_holds_what_its_ignored_cells_print(name):
    """04 and 05 leave most cells' outputs out of nbval's comparison (tests/README.md lists them): here the numbers
    those cells print, as the committed reference run recorded them, meet what the text says of them."""
    m = read_metrics(NOTEBOOKS / f"{name}.ipynb")
    patience = REFERENCE_RUNS[name]["PATIENCE"]
    assert m["reference_run"] is True and m["claims_checked"] == m["claims_held"] > 0
    # "Trained ...: N epochs, best epoch B restored": every model stopped early (converged), PATIENCE epochs after
    # its best one, well before the epoch cap
    for model, best in m["best_epoch_by_model"].items():
        assert m["epochs_run_by_model"][model] == best + patience < REFERENCE_RUNS[name]["MAX_EPOCHS"], model
    if name == "04_results":  # the beta table: log p(x) >= ELBO, so the NLL lies below rate + distortion (-ELBO)
        assert all(m["nll_by_beta"][b] < m["rate_by_beta"][b] + m["distortion_by_beta"][b] for b in m["nll_by_beta"])
        dims, d = REFERENCE_RUNS[name]["LATENT_DIMS"], REFERENCE_RUNS[name]["LATENT_DIM"]
        assert m["active_units_by_latent_dim"][str(min(dims))] == min(dims)  # "2 of 2": the small codes use all
        assert m["active_units_by_beta"]["1"] == d                              # "20/20"
        assert m["active_units_remedy"] == max(dims)  # free bits: every dimension of the widest code active
    else:  # the conv-against-MLP table: the validation -ELBO lies above the train -ELBO for both (a generalization gap)
        assert m["mlp_generalization_gap"] > 0 and m["conv_generalization_gap"] > 0
        assert len(m["conv_nll_by_seed"]) == len(m["mlp_nll_by_seed"]) == len(REFERENCE_RUNS[name]["SEEDS"]) >= 3
        assert m["bound_violation_share"] <= 0.01
        assert m["fashion_binarization_floor"] < min(m["mlp_nll_by_seed"].values())


# In a kernel (papermill): the first case of each notebook, and 04's own check of BINARIZE; the
# other cases go through the same check_parameters in this process (a kernel start each costs seconds).
IN_A_KERNEL = [(n, *cases[0]) for n, cases in BAD.items() if n in NAMES] + [
    (n, p, v, ok) for n, cases in BAD.items() if n in NAMES for p, v, ok in cases if p == "BINARIZE" and v == "none"]
# 04's own guard, after check_parameters: each value is valid alone, not with the default LATENT_DIM = 20 (its
# sweeps reuse the main model, so LATENT_DIMS must hold LATENT_DIM and BETAS must hold 1)
IN_A_KERNEL += [("04_results", "LATENT_DIMS", [2, 64], "LATENT_DIMS must contain LATENT_DIM"),
                ("04_results", "BETAS", [0.5, 4], "BETAS must contain 1")]


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
        pm.execute_notebook(str(NOTEBOOKS / f"{name}.ipynb"), str(out),
                            parameters={**device_parameter(), parameter: value},
                            cwd=str(NOTEBOOKS), kernel_name="python3", progress_bar=False)
    assert err.value.ename == "ValueError"
    assert f"{parameter}={value!r}" in err.value.evalue and valid in err.value.evalue
    cells = nbformat.read(out, as_version=4).cells
    failed = [i for i, c in enumerate(cells) if any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    assert len(failed) == 1 and "check_parameters(" in cells[failed[0]].source
    assert all(c.get("execution_count") is None for c in cells[failed[0] + 1:] if c.cell_type == "code")
    assert not cache.exists()  # nothing trained, nothing cached
