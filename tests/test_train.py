import math
import random

import numpy as np
import pytest
import torch

from helpers import train as T
from helpers.data import ImageData, evaluation_images
from helpers.early_stopping import EarlyStopping
from helpers.models import VAE, AutoEncoder
from helpers.train import (
    NOT_IN_KEY,
    FitSettings,
    TrainingDivergedError,
    evaluate,
    fit,
    flush_subnormals,
    loss_terms,
    lr_warm_up,
    resolve_device,
    set_seed,
    train_step,
    training_loss,
)

QUIET = dict(progress=False, verbose=False)


def fresh_vae(seed=0, latent_dim=2, hidden=64):
    set_seed(seed)
    return VAE(latent_dim=latent_dim, hidden=hidden)


def states_after_each_epoch():
    """A callback that records a copy of the weights after every epoch."""
    states = []

    def record(epoch, model):
        states.append({k: v.detach().clone() for k, v in model.state_dict().items()})
    return states, record


def same_weights(model, state):
    return all(torch.equal(v, state[k]) for k, v in model.state_dict().items())


@pytest.mark.parametrize("cls", [AutoEncoder, VAE])
def test_one_epoch_lowers_the_test_loss(cls, mnist, device, cache_dir):
    set_seed(0)
    model = cls(latent_dim=2, hidden=64).to(device)
    before = evaluate(model, mnist.x_test.to(device))["loss"]
    history = fit(model, mnist, epochs=1, device=device, **QUIET)
    assert history.test["loss"][0] < before - 100  # from ~545 nats (random pixels) to well under 450
    assert len(history.train["loss"]) == len(history.validation["loss"]) == 1 and history.epoch_seconds[0] > 0
    assert history.best_epoch == history.epochs_run == 1 and not model.training
    if cls is AutoEncoder:
        assert history.train["kl"] == [0.0]
    else:
        assert history.train["kl"][0] > 0
        assert math.isclose(history.train["loss"][0], history.train["reconstruction"][0] + history.train["kl"][0],
                            rel_tol=1e-6)


def test_beta_weights_the_kl(small, cache_dir):
    history = fit(fresh_vae(), small, epochs=1, beta=4.0, device="cpu", **QUIET)
    t, v = history.train, history.validation
    assert math.isclose(t["loss"][0], t["reconstruction"][0] + 4.0 * t["kl"][0], rel_tol=1e-6)
    assert math.isclose(v["loss"][0], v["reconstruction"][0] + 4.0 * v["kl"][0], rel_tol=1e-6)


def test_same_seed_gives_the_identical_history_on_cpu(small, cache_dir):
    kw = dict(epochs=2, device="cpu", cache=False, binarize_mode="dynamic", **QUIET)
    a = fit(fresh_vae(), small, **kw)
    b = fit(fresh_vae(), small, **kw)
    c = fit(fresh_vae(), small, **{**kw, "seed": 1})
    assert a.train == b.train and a.test == b.test and a.validation == b.validation
    assert a.train != c.train


def test_the_callers_random_state_is_left_as_it_was_trained_or_cached(small, cache_dir):
    def draws_after(fn):
        torch.manual_seed(123)
        random.seed(7)
        np.random.seed(7)
        fn()
        return torch.rand(3).tolist(), random.random(), np.random.rand()

    model = fresh_vae()
    untouched = draws_after(lambda: None)
    trained = draws_after(lambda: fit(model, small, epochs=1, device="cpu", **QUIET))
    loaded = fresh_vae()
    cached = draws_after(lambda: fit(loaded, small, epochs=1, device="cpu", **QUIET))
    assert untouched == trained == cached
    assert same_weights(loaded, model.state_dict())


def test_evaluate_is_deterministic_and_leaves_the_random_state(small):
    model = fresh_vae()
    torch.manual_seed(5)
    first = evaluate(model, small.x_test)
    after = torch.rand(2)
    torch.manual_seed(5)
    assert evaluate(model, small.x_test) == first and torch.equal(torch.rand(2), after)
    assert evaluate(model, small.x_test, seed=1) != first


# --- the cache -------------------------------------------------------------------------------

def test_cache_miss_hit_and_a_changed_setting(small, cache_dir, capsys):
    model = fresh_vae()
    first = fit(model, small, epochs=1, device="cpu", progress=False)
    files = list(cache_dir.glob("*.pt"))
    assert len(files) == 1 and not first.from_cache
    assert "Trained VAE" in capsys.readouterr().out

    again = fresh_vae()
    second = fit(again, small, epochs=1, device="cpu", progress=False)
    assert second.from_cache and "Loaded VAE from the cache" in capsys.readouterr().out
    assert second.test == first.test and second.validation == first.validation and not again.training
    assert same_weights(again, model.state_dict())

    fit(fresh_vae(), small, epochs=1, lr=2e-3, device="cpu", **QUIET)
    fit(fresh_vae(seed=1), small, epochs=1, device="cpu", **QUIET)  # other initial weights
    assert len(list(cache_dir.glob("*.pt"))) == 3


# Written by hand, not read from fit's signature: each of these changes a number of the result.
CHANGES_A_NUMBER = {"epochs": 2, "batch_size": 64, "lr": 2e-3, "lr_warmup_epochs": 1, "beta": 2.0,
                    "binarize_mode": "static", "warmup_epochs": 1, "free_bits": 0.5, "patience": 3, "plateau": 2,
                    "min_improvement": 1e-3, "ema": 0.9, "test_curve": False, "seed": 1,
                    "callback": lambda epoch, model: None, "cache_key": "what the callback records"}
CHANGES_NO_NUMBER = {"progress": False, "verbose": False, "cache": False, "cache_dir": "/somewhere/else"}


def test_each_setting_that_changes_a_number_changes_the_key_and_no_other_does(small):
    from dataclasses import fields
    cpu, model = torch.device("cpu"), fresh_vae()
    base = FitSettings().key(model, small, cpu)
    for name, value in CHANGES_A_NUMBER.items():
        assert FitSettings(**{name: value}).key(model, small, cpu) != base, name
    for name, value in CHANGES_NO_NUMBER.items():
        assert FitSettings(**{name: value}).key(model, small, cpu) == base, name
    assert FitSettings().key(model, small, torch.device("cuda")) != base  # the device type, not its index
    assert FitSettings(device="cuda:1").key(model, small, torch.device("cuda", 1)) == \
        FitSettings().key(model, small, torch.device("cuda"))
    # every setting is classified here: a new option of fit fails this test until it is
    assert {f.name for f in fields(FitSettings)} == set(CHANGES_A_NUMBER) | set(CHANGES_NO_NUMBER) | {"device"}
    assert set(NOT_IN_KEY) == set(CHANGES_NO_NUMBER)
    assert {"torch", "code_sha256", "model", "data"} <= set(base)


def test_fit_has_the_settings_as_keyword_arguments():
    import inspect
    from dataclasses import fields
    parameters = inspect.signature(fit).parameters
    assert list(parameters) == ["model", "data"] + [f.name for f in fields(FitSettings)]
    assert all(parameters[f.name].default == f.default for f in fields(FitSettings))


CHANGED_ARGUMENTS = [("epochs", 2), ("batch_size", 64), ("lr", 2e-3), ("beta", 2.0), ("binarize_mode", "static"),
                     ("warmup_epochs", 1), ("free_bits", 0.5), ("patience", 3), ("plateau", 2), ("seed", 1),
                     ("test_curve", False), ("ema", 0.9), ("min_improvement", 1e-3),
                     ("lr_warmup_epochs", 1)]


@pytest.mark.parametrize("name, value", CHANGED_ARGUMENTS)
def test_each_argument_of_fit_is_in_the_key(name, value, small, cache_dir):
    fit(fresh_vae(), small, epochs=1, device="cpu", **QUIET)
    changed = fit(fresh_vae(), small, **{"epochs": 1, "device": "cpu", **QUIET, name: value})
    assert not changed.from_cache
    assert fit(fresh_vae(), small, **{"epochs": 1, "device": "cpu", **QUIET, name: value}).from_cache


def flipped(data):
    return ImageData(data.name, data.source, 1 - data.x_train, data.y_train, data.x_test, data.y_test,
                     data.x_val, data.y_val)


@pytest.mark.parametrize("change", ["images", "labels", "validation images", "model repr", "code", "torch version"])
def test_each_other_part_of_the_key_gives_a_miss(change, small, cache_dir, monkeypatch):
    from helpers import cache
    fit(fresh_vae(), small, epochs=1, device="cpu", **QUIET)
    model, data = fresh_vae(), small
    if change == "images":
        data = flipped(small)  # same sizes, same name and source, other pixels
    elif change == "labels":
        data = ImageData(small.name, small.source, small.x_train, small.y_train.flip(0), small.x_test,
                         small.y_test, small.x_val, small.y_val)
    elif change == "validation images":
        data = ImageData(small.name, small.source, small.x_train, small.y_train, small.x_test, small.y_test,
                         1 - small.x_val, small.y_val)
    elif change == "model repr":
        model.encoder[2] = torch.nn.ELU()  # same state_dict, same shapes: only the activation differs
    elif change == "code":
        monkeypatch.setattr(cache, "code_digest", lambda: "the loss code was edited")
    else:
        monkeypatch.setattr(torch, "__version__", "9.9.9")
    assert not fit(model, data, epochs=1, device="cpu", **QUIET).from_cache


def test_the_code_digest_covers_the_loss_and_the_loop(monkeypatch):
    from helpers import cache
    everything = cache.code_digest()
    monkeypatch.setattr(cache, "CODE_FILES", tuple(f for f in cache.CODE_FILES if f != "elbo.py"))
    assert cache.code_digest() != everything


def test_a_callback_without_a_cache_key_is_not_cached(small, cache_dir, capsys):
    h = fit(fresh_vae(), small, epochs=1, callback=lambda e, m: e, device="cpu", progress=False)
    assert h.snapshots == [0] and not cache_dir.exists()
    assert "Not cached" in capsys.readouterr().out


def test_callbacks_with_different_keys_get_their_own_snapshots(small, cache_dir):
    import functools

    def times(factor, epoch, model):
        return epoch * factor

    first = fit(fresh_vae(), small, epochs=2, callback=functools.partial(times, 10), cache_key="times 10",
                device="cpu", **QUIET)
    second = fit(fresh_vae(), small, epochs=2, callback=functools.partial(times, 100), cache_key="times 100",
                 device="cpu", **QUIET)
    assert first.snapshots == [0, 10] and second.snapshots == [0, 100] and not second.from_cache
    replay = fit(fresh_vae(), small, epochs=2, callback=functools.partial(times, 100), cache_key="times 100",
                 device="cpu", **QUIET)
    assert replay.from_cache and replay.snapshots == [0, 100]


def test_callback_snapshots_are_kept_and_replayed_from_the_cache(small, cache_dir):
    calls = []

    def snapshot(epoch, model):
        calls.append(epoch)
        return {"epoch": epoch, "samples": model.sample(2, torch.Generator().manual_seed(0))}

    kw = dict(epochs=2, callback=snapshot, cache_key="two samples", device="cpu", **QUIET)
    h = fit(fresh_vae(), small, **kw)
    assert calls == [0, 1] and [s["epoch"] for s in h.snapshots] == [0, 1]
    h2 = fit(fresh_vae(), small, **kw)
    assert h2.from_cache and calls == [0, 1]
    assert torch.equal(h2.snapshots[1]["samples"], h.snapshots[1]["samples"])


def test_a_snapshot_the_cache_cannot_load_is_refused_at_once(small, cache_dir):
    model = fresh_vae()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(TypeError, match=r"numpy\.ndarray in snapshot\['samples'\].*torch.from_numpy"):
        fit(model, small, epochs=3, callback=lambda e, m: {"samples": np.zeros(3)}, cache_key="numpy",
            device="cpu", **QUIET)
    assert not cache_dir.exists() and not model.training
    assert not same_weights(model, before)  # it holds the weights of the epoch before the callback failed
    # without the cache, anything may be kept
    h = fit(fresh_vae(), small, epochs=1, callback=lambda e, m: np.zeros(3), cache=False, device="cpu", **QUIET)
    assert isinstance(h.snapshots[0], np.ndarray)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_a_corrupt_cache_file_is_retrained_not_a_crash(damage, small, cache_dir, capsys):
    fit(fresh_vae(), small, epochs=1, device="cpu", **QUIET)
    (path,) = cache_dir.glob("*.pt")
    raw = path.read_bytes()
    path.write_bytes({"truncate": raw[: len(raw) // 2], "garbage": b"\x00not a checkpoint" * 50, "empty": b""}[damage])
    history = fit(fresh_vae(), small, epochs=1, device="cpu", progress=False)
    assert not history.from_cache
    assert "unreadable" in capsys.readouterr().out
    assert fit(fresh_vae(), small, epochs=1, device="cpu", **QUIET).from_cache


def test_an_unwritable_cache_folder_warns_and_returns_the_trained_model(small, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    model = fresh_vae()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.warns(RuntimeWarning, match="could not be cached"):
        history = fit(model, small, epochs=1, device="cpu", cache_dir=blocker / "sub", **QUIET)
    assert history.epochs_run == 1 and not history.from_cache and not same_weights(model, before)
    assert blocker.read_text() == "not a folder"


# --- divergence and interruption ------------------------------------------------------------

class RecordingBar:
    """Stands in for tqdm to see whether the bar was closed."""
    made = []

    def __init__(self, *args, **kwargs):
        self.closed = False
        RecordingBar.made.append(self)

    def update(self, n=1):
        pass

    def set_postfix(self, **kwargs):
        pass

    def close(self):
        self.closed = True


@pytest.fixture
def bars(monkeypatch):
    RecordingBar.made = []
    monkeypatch.setattr(T, "tqdm", RecordingBar)
    return RecordingBar.made


@pytest.mark.parametrize("lr", [1.0, 0.3])
def test_a_diverging_vae_ends_in_the_error_with_the_last_good_weights(lr, mnist, cache_dir, bars):
    states, record = states_after_each_epoch()
    model = fresh_vae(hidden=64)
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(TrainingDivergedError, match=rf"diverged in epoch \d+.*learning rate too high.*lr={lr:g}"):
        fit(model, mnist, epochs=5, lr=lr, callback=record, cache_key="weights", device="cpu", **QUIET)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert same_weights(model, states[-1] if states else initial)
    assert not model.training and bars and all(b.closed for b in bars)
    assert not cache_dir.exists()


@pytest.mark.parametrize("cls", [AutoEncoder, VAE])
def test_a_weight_blowing_up_mid_training_is_caught_and_undone(cls, small, cache_dir, bars):
    states, record = states_after_each_epoch()

    def record_then_break(epoch, model):
        record(epoch, model)
        if epoch == 1:
            with torch.no_grad():
                model.decoder[0].weight[0, 0] = float("nan")  # as if the last step had blown up

    set_seed(0)
    model = cls(latent_dim=2, hidden=64)
    with pytest.raises(TrainingDivergedError, match=r"diverged in epoch 3"):
        fit(model, small, epochs=4, callback=record_then_break, cache_key="break", device="cpu", **QUIET)
    assert len(states) == 2 and same_weights(model, states[1])  # the weights after epoch 2, before the NaN
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert not model.training and all(b.closed for b in bars) and not cache_dir.exists()


def test_a_huge_learning_rate_is_caught_for_the_autoencoder(small, cache_dir):
    set_seed(0)
    model = AutoEncoder(latent_dim=2, hidden=64)
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(TrainingDivergedError, match=r"epoch 1.*lr=1e\+08"):
        fit(model, small, epochs=3, lr=1e8, device="cpu", **QUIET)
    assert same_weights(model, initial)


def test_an_interrupted_epoch_leaves_the_last_good_weights(small, cache_dir, bars):
    states, record = states_after_each_epoch()
    model = fresh_vae()
    calls = {"n": 0}

    def stop_in_epoch_2(module, inputs, output):
        calls["n"] += 1
        if calls["n"] == 6 + 2:  # 4 training batches (+ 2 evaluation passes) per epoch: a batch of epoch 2
            raise KeyboardInterrupt

    model.decoder.register_forward_hook(stop_in_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        fit(model, small, epochs=3, callback=record, cache_key="interrupt", device="cpu", **QUIET)
    assert len(states) == 1 and same_weights(model, states[0])
    assert not model.training and all(b.closed for b in bars)
    assert not cache_dir.exists() or not list(cache_dir.iterdir())  # nothing, not even half a file


def test_an_interrupt_in_the_callback_keeps_that_epoch(small, cache_dir, bars):
    states, record = states_after_each_epoch()

    def record_then_stop(epoch, model):
        record(epoch, model)
        if epoch == 1:
            raise KeyboardInterrupt

    model = fresh_vae()
    with pytest.raises(KeyboardInterrupt):
        fit(model, small, epochs=3, callback=record_then_stop, cache_key="stop", device="cpu", **QUIET)
    assert same_weights(model, states[1]) and not model.training and all(b.closed for b in bars)
    assert not cache_dir.exists()


# --- early stopping, KL warm-up, free bits ------------------------------------------------

@pytest.fixture(scope="module")
def overfitting(mnist):
    """64 training images and a big model: the validation loss turns up after a few epochs."""
    return ImageData(mnist.name, mnist.source, mnist.x_train[::50][:64], mnist.y_train[::50][:64],
                     mnist.x_test[:200], mnist.y_test[:200], mnist.x_val[:200], mnist.y_val[:200])


def test_early_stopping_restores_the_best_epoch_not_the_last(overfitting, cache_dir):
    model = fresh_vae(latent_dim=8, hidden=256)
    h = fit(model, overfitting, epochs=200, patience=5, lr=3e-3, batch_size=16, device="cpu", **QUIET)
    val = h.validation["loss"]
    assert h.epochs_run < 200 and h.epochs_run == h.best_epoch + 5
    assert val[h.best_epoch - 1] == min(val) < val[-1] - 1.0
    x_val = evaluation_images(overfitting, "validation", "none")
    assert evaluate(model, x_val)["loss"] == pytest.approx(val[h.best_epoch - 1], abs=1e-3)
    assert evaluate(model, x_val)["loss"] < val[-1] - 1.0  # what keeping the last epoch would have given


def test_without_a_test_curve_the_test_images_are_scored_once_for_the_model_returned(overfitting, cache_dir):
    kw = dict(epochs=30, patience=3, lr=3e-3, batch_size=16, device="cpu", **QUIET)
    with_curve = fit(fresh_vae(latent_dim=8, hidden=256), overfitting, **kw)
    model = fresh_vae(latent_dim=8, hidden=256)
    once = fit(model, overfitting, test_curve=False, **kw)
    assert len(once.test["loss"]) == 1 and len(once.validation["loss"]) == once.epochs_run == with_curve.epochs_run
    assert once.validation == with_curve.validation  # the same training
    assert once.test["loss"][0] == pytest.approx(with_curve.test["loss"][once.best_epoch - 1], abs=1e-4)


def test_with_ema_the_average_of_the_weights_is_scored_and_returned(small, cache_dir, monkeypatch):
    """The model returned holds the exponential moving average of the weights after every step (bias-corrected, so
    not tied to the initial weights), computed here by hand from the raw weights; the History scores that average;
    training itself is unchanged."""
    decay, steps = 0.9, []
    plain = fit(fresh_vae(), small, epochs=2, device="cpu", **QUIET)
    train_step = T.train_step

    def recording_step(model, *args, **kwargs):
        out = train_step(model, *args, **kwargs)
        steps.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        return out
    monkeypatch.setattr(T, "train_step", recording_step)
    model = fresh_vae()
    h = fit(model, small, epochs=2, ema=decay, device="cpu", **QUIET)
    # the bias-corrected average: the steps' weights, each weighted decay ** (its age in steps), over those weights' sum
    ages = torch.arange(len(steps) - 1, -1, -1, dtype=torch.float64)
    w = decay ** ages / (decay ** ages).sum()
    average = {k: sum(wi * state[k].double() for wi, state in zip(w, steps)).float() for k in steps[0]}
    assert all(torch.allclose(v, average[k], atol=1e-5) for k, v in model.state_dict().items())
    assert not same_weights(model, steps[-1])             # not the raw weights
    assert h.train == plain.train                         # the steps are those of the run without an average
    x_val = evaluation_images(small, "validation", "none")
    assert evaluate(model, x_val)["loss"] == pytest.approx(h.validation["loss"][-1], abs=1e-4)
    assert h.validation["loss"][-1] != pytest.approx(plain.validation["loss"][-1], abs=1e-3)


def test_with_ema_early_stopping_restores_the_best_average(overfitting, cache_dir):
    states, record = states_after_each_epoch()
    model = fresh_vae(latent_dim=8, hidden=256)
    h = fit(model, overfitting, epochs=200, patience=5, lr=3e-3, batch_size=16, ema=0.9, callback=record,
            device="cpu", **QUIET)
    val = h.validation["loss"]
    assert h.epochs_run == h.best_epoch + 5 and val[h.best_epoch - 1] == min(val)
    assert same_weights(model, states[h.best_epoch - 1])  # the callback saw the average; the best one is kept


def test_the_average_of_the_first_steps_is_their_mean():
    """Bias-corrected: after two steps the average is the mean of their weights (weighted 0.995 : 1), not the
    first step's weights nearly unchanged, as an uncorrected average would be."""
    model = torch.nn.Linear(1, 1, bias=False)
    averaged = T.average_weights(model, 0.995)
    for value in (0.0, 1.0):
        model.weight.data.fill_(value)
        averaged.update_parameters(model)
    assert averaged.module.weight.item() == pytest.approx(1 / 1.995)
    for _ in range(3000):                     # in the long run, the plain exponential moving average:
        averaged.update_parameters(model)
    model.weight.data.fill_(2.0)
    averaged.update_parameters(model)         # a step moves it by 1 - 0.995 of the distance
    assert averaged.module.weight.item() == pytest.approx(1.005, abs=1e-4)


def test_the_average_is_torchs_averaged_model_bit_for_bit():
    """WeightAverage does AveragedModel's arithmetic (bias-corrected, buffers averaged) without its
    per-step bookkeeping: the same numbers, and an integer buffer (BatchNorm's count) copied."""
    from torch.optim.swa_utils import AveragedModel

    def corrected_ema(averaged, current, n_averaged):   # the share (1 - ema) / (1 - ema ** t), as WeightAverage
        share = (1 - 0.9) / (1 - 0.9 ** (int(n_averaged) + 1))
        floats = [(a, c) for a, c in zip(averaged, current) if a.is_floating_point()]
        if floats:                                       # AveragedModel passes each dtype apart
            torch._foreach_lerp_([a for a, _ in floats], [c for _, c in floats], share)
        for a, c in zip(averaged, current):
            if not a.is_floating_point():
                a.copy_(c)

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    ours, torchs = T.average_weights(model, 0.9), AveragedModel(model, multi_avg_fn=corrected_ema, use_buffers=True)
    for _ in range(5):
        model(torch.randn(8, 3)).sum().backward()       # a training step: new weights, new BatchNorm statistics
        with torch.no_grad():
            for p in model.parameters():
                p -= 0.1 * p.grad
        ours.update_parameters(model)
        torchs.update_parameters(model)
    assert int(ours.module[1].num_batches_tracked) == 5
    for name, value in torchs.module.state_dict().items():
        assert torch.equal(ours.module.state_dict()[name], value), name


def test_early_stopping_needs_a_validation_split(small, cache_dir):
    no_val = ImageData(small.name, small.source, small.x_train, small.y_train, small.x_test, small.y_test)
    with pytest.raises(ValueError, match="patience.*x_val is None"):
        fit(fresh_vae(), no_val, epochs=2, patience=1, device="cpu", **QUIET)
    with pytest.raises(ValueError, match="plateau.*x_val is None"):
        fit(fresh_vae(), no_val, epochs=2, plateau=1, device="cpu", **QUIET)
    h = fit(fresh_vae(), no_val, epochs=1, device="cpu", **QUIET)  # without early stopping it trains
    assert h.validation["loss"] == [] and len(h.test["loss"]) == 1


def test_the_warm_up_ramps_beta(small, cache_dir):
    h = fit(fresh_vae(latent_dim=8), small, epochs=6, warmup_epochs=4, beta=2.0, device="cpu", **QUIET)
    assert h.beta == [0.0, 0.5, 1.0, 1.5, 2.0, 2.0]
    for e, b in enumerate(h.beta):
        t = h.train
        assert t["loss"][e] == pytest.approx(t["reconstruction"][e] + b * t["kl"][e], rel=1e-6)
        v = h.validation  # always at the target beta
        assert v["loss"][e] == pytest.approx(v["reconstruction"][e] + 2.0 * v["kl"][e], rel=1e-6)


def test_early_stopping_never_stops_or_chooses_during_the_warm_up(small, cache_dir, monkeypatch):
    real, calls = T.evaluate, {"validation": 0}

    def worse_during_warm_up(model, x, beta=1.0, **kw):  # the validation loss rises for 3 epochs, then falls
        scores = real(model, x, beta, **kw)
        if len(x) == len(small.x_val):
            calls["validation"] += 1
            epoch = calls["validation"]
            scores["loss"] += 1000.0 * epoch if epoch <= 3 else -1000.0 * epoch
        return scores

    monkeypatch.setattr(T, "evaluate", worse_during_warm_up)
    h = fit(fresh_vae(), small, epochs=8, warmup_epochs=3, patience=1, device="cpu", **QUIET)
    assert h.epochs_run == 8 and h.best_epoch == 8
    calls["validation"] = 0
    h = fit(fresh_vae(), small, epochs=8, warmup_epochs=0, patience=1, device="cpu", cache=False, **QUIET)
    assert h.epochs_run == 2 and h.best_epoch == 1  # without a warm-up the same losses stop it at once


def test_the_learning_rate_is_cut_by_3_when_the_validation_loss_stalls(small, cache_dir, monkeypatch):
    real, calls = T.evaluate, {"validation": 0}

    def stalls_after_epoch_2(model, x, beta=1.0, **kw):  # validation loss: 3, 2, then 2.5 for ever
        scores = real(model, x, beta, **kw)
        if len(x) == len(small.x_val):
            calls["validation"] += 1
            scores["loss"] = {1: 3.0, 2: 2.0}.get(calls["validation"], 2.5)
        return scores

    monkeypatch.setattr(T, "evaluate", stalls_after_epoch_2)
    h = fit(fresh_vae(), small, epochs=8, lr=9e-3, plateau=2, device="cpu", **QUIET)
    # epochs 3 and 4 do not improve: the rate is cut after epoch 4, and again two epochs later
    assert h.lr == pytest.approx([9e-3] * 4 + [3e-3] * 2 + [1e-3] * 2)


def test_an_improvement_must_be_more_than_a_hair(small, cache_dir, monkeypatch):
    real, calls = T.evaluate, {"validation": 0}

    def creeping(model, x, beta=1.0, **kw):  # 100, then 99.999, 99.998 ...: 0.001% per epoch
        scores = real(model, x, beta, **kw)
        if len(x) == len(small.x_val):
            calls["validation"] += 1
            scores["loss"] = 100.0 - 0.001 * calls["validation"]
        return scores

    monkeypatch.setattr(T, "evaluate", creeping)
    h = fit(fresh_vae(), small, epochs=10, patience=2, device="cpu", **QUIET)
    assert h.best_epoch == 1 and h.epochs_run == 3  # creeping below 0.01% counts as no improvement


def test_training_loss_is_the_batch_mean_plus_beta_kl_with_a_floor():
    rec = torch.tensor([100.0, 120.0])
    kl = torch.tensor([[2.0, 0.1, 0.0], [4.0, 0.3, 0.0]])         # batch means per dim: 3, 0.2, 0
    assert training_loss(rec, kl, beta=1.0).item() == pytest.approx(110 + 3.2)
    assert training_loss(rec, kl, beta=2.0).item() == pytest.approx(110 + 6.4)
    assert training_loss(rec, kl, beta=1.0, free_bits=0.5).item() == pytest.approx(110 + 3 + 0.5 + 0.5)
    assert training_loss(rec, kl, beta=2.0, free_bits=0.5).item() == pytest.approx(110 + 2 * 4.0)


def test_free_bits_stop_the_gradient_of_dimensions_below_the_floor():
    kl = torch.tensor([[2.0, 0.1], [4.0, 0.3]], requires_grad=True)
    training_loss(torch.zeros(2), kl, free_bits=0.5).backward()
    assert kl.grad[:, 0].tolist() == [0.5, 0.5] and kl.grad[:, 1].tolist() == [0.0, 0.0]


def test_early_stopping_cuts_the_rate_keeps_the_best_and_stops(small):
    optimizer = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=9e-3)
    stopping = EarlyStopping(optimizer, patience=3, plateau=2, warmup_epochs=1)
    losses = [1.0, 5.0, 4.0, 4.0, 3.9999, 4.5, 4.2]   # epoch 0 is the warm-up; the best after it is epoch 2 (4.0)
    stops, rates = [], []
    for epoch, loss in enumerate(losses):
        stops.append(stopping.step(epoch, loss, {"epoch": torch.tensor(epoch)}))
        rates.append(optimizer.param_groups[0]["lr"])
    assert stops == [False] * 5 + [True, True] and stopping.best_epoch == 3 and stopping.best_loss == 4.0
    assert rates == pytest.approx([9e-3] * 4 + [3e-3] * 2 + [1e-3])  # cut after 2 epochs without improvement
    model = torch.nn.Module()
    model.register_buffer("epoch", torch.tensor(-1))
    assert stopping.restore_best(model) and model.epoch.item() == 2
    assert not EarlyStopping(optimizer, plateau=2).restore_best(model)  # no patience: nothing chosen


def test_min_improvement_is_what_early_stopping_counts_as_better():
    """A loss that falls by 0.02% an epoch improves at the default threshold (0.01%), not at 0.1%; the
    learning-rate cuts keep torch's threshold (0.01%) either way."""
    losses = [100 * 0.9998 ** epoch for epoch in range(8)]
    for extra, wanted_stop, wanted_best in (({}, None, 8), ({"min_improvement": 1e-3}, 4, 1)):
        optimizer = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=9e-3)
        stopping = EarlyStopping(optimizer, patience=3, plateau=2, **extra)
        stopped = next((epoch + 1 for epoch, loss in enumerate(losses) if stopping.step(epoch, loss, {})), None)
        assert stopped == wanted_stop
        assert stopping.best_epoch == wanted_best
        assert optimizer.param_groups[0]["lr"] == 9e-3


def test_fit_stops_sooner_with_a_coarser_min_improvement(small):
    """The same run, the same weights epoch by epoch: only where it stops differs."""
    runs = {m: fit(fresh_vae(), small, epochs=40, lr=1e-3, patience=2, min_improvement=m, device="cpu", **QUIET)
            for m in (1e-4, 5e-2)}
    fine, coarse = runs[1e-4], runs[5e-2]
    assert coarse.epochs_run < fine.epochs_run
    assert coarse.validation["loss"] == fine.validation["loss"][:coarse.epochs_run]


def test_train_step_takes_one_step_on_the_terms_of_that_batch(small):
    model, x = fresh_vae(), small.x_train[:32]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    torch.manual_seed(3)
    expected = loss_terms(model, x)
    torch.manual_seed(3)
    rec, kl = train_step(model, optimizer, x, beta=2.0)
    assert torch.equal(rec, expected[0].detach()) and torch.equal(kl, expected[1].detach())
    assert not rec.requires_grad and not same_weights(model, before)


def test_loss_terms_of_both_models(small):
    x = small.x_test[:5]
    rec, kl = loss_terms(AutoEncoder(2, 16), x)
    assert rec.shape == (5,) and kl.shape == (5, 0)
    rec, kl = loss_terms(VAE(3, 16), x)
    assert rec.shape == (5,) and kl.shape == (5, 3) and torch.all(kl >= 0)


# --- the optimizer, devices, bad input ----------------------------------------------------------

def test_without_fused_adam_fit_falls_back_to_the_plain_one(small, cache_dir, monkeypatch):
    real, made = torch.optim.Adam, []

    def old_torch_adam(params, lr, fused=None):  # torch < 2.4 on a CPU: fused=True is refused
        if fused:
            raise RuntimeError("`fused=True` requires all the params to be floating point Tensors of supported "
                               "devices: ['cuda']")
        made.append(lr)
        return real(params, lr=lr)

    monkeypatch.setattr(torch.optim, "Adam", old_torch_adam)
    h = fit(fresh_vae(), small, epochs=1, device="cpu", **QUIET)
    assert made == [1e-3] and h.epochs_run == 1


@pytest.mark.parametrize("kwargs, message", [
    ({"epochs": -1}, r"epochs=-1.*>= 0"),
    ({"epochs": 1.5}, r"epochs=1.5"),
    ({"batch_size": 0}, r"batch_size=0.*>= 1"),
    ({"lr": 0}, r"lr=0.*> 0"),
    ({"lr": -1e-3}, r"lr=-0.001"),
    ({"beta": -1}, r"beta=-1"),
    ({"beta": float("nan")}, r"beta=nan"),
    ({"binarize_mode": "soft"}, r"binarize_mode='soft'.*'none', 'static', 'dynamic'"),
    ({"device": "tpu"}, r"device='tpu'.*'auto', 'cpu', 'cuda'"),
    ({"seed": -1}, r"seed=-1.*from 0 to 4294967295"),
    ({"seed": 2**40}, r"seed=1099511627776.*from 0 to 4294967295"),
    ({"seed": True}, r"seed=True"),
    ({"warmup_epochs": -2}, r"warmup_epochs=-2"),
    ({"lr_warmup_epochs": -1}, r"lr_warmup_epochs=-1.*>= 0"),
    ({"lr_warmup_epochs": 2.5}, r"lr_warmup_epochs=2.5"),
    ({"free_bits": -0.5}, r"free_bits=-0.5"),
    ({"patience": 0}, r"patience=0.*>= 1"),
    ({"plateau": 0}, r"plateau=0.*>= 1"),
    ({"min_improvement": 1.0}, r"min_improvement=1.0.*>= 0 and < 1"),
    ({"min_improvement": -1e-3}, r"min_improvement=-0.001.*>= 0 and < 1"),
    ({"min_improvement": "0.001"}, r"min_improvement='0.001'"),
    ({"ema": 1.0}, r"ema=1.0.*>= 0 and < 1"),
    ({"ema": -0.1}, r"ema=-0.1.*>= 0 and < 1"),
    ({"ema": "0.99"}, r"ema='0.99'"),
    ({"ema": True}, r"ema=True"),
    ({"cache_key": 3}, r"cache_key=3"),
    ({"callback": "print"}, r"callback='print'"),
    ({"test_curve": "yes"}, r"test_curve='yes'"),
])
def test_bad_arguments_raise_and_write_nothing(kwargs, message, small, cache_dir):
    model = fresh_vae()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match=message):
        fit(model, small, **{"epochs": 1, "progress": False, **kwargs})
    assert not cache_dir.exists() or not any(cache_dir.iterdir())
    assert same_weights(model, before)


def test_numpy_integers_are_integers(small, cache_dir):
    h = fit(fresh_vae(), small, epochs=np.int64(1), batch_size=np.int32(128), seed=np.int64(3), device="cpu", **QUIET)
    assert h.epochs_run == 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_says_so(small, cache_dir):
    with pytest.raises(ValueError, match="CUDA is not available"):
        fit(fresh_vae(), small, epochs=1, device="cuda")
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda:0")


@pytest.mark.parametrize("cuda, mps, expected", [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")])
def test_auto_device_prefers_cuda_then_mps_then_cpu(cuda, mps, expected, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(T, "_mps_available", lambda: mps)
    assert resolve_device("auto") == torch.device(expected)
    assert resolve_device("cpu") == torch.device("cpu")


def test_images_outside_0_1_are_refused(small, cache_dir):
    bad = ImageData("mnist", "test", small.x_train * 255, small.y_train, small.x_test, small.y_test)
    with pytest.raises(ValueError, match=r"values in \[0, 255\].*\[0, 1\]"):
        fit(fresh_vae(), bad, epochs=1)
    assert not cache_dir.exists()


def test_empty_training_images_are_refused(small, cache_dir):
    empty = ImageData("mnist", "test", small.x_train[:0], small.y_train[:0], small.x_test, small.y_test)
    with pytest.raises(ValueError, match=r"data.x_train is empty"):
        fit(fresh_vae(), empty, epochs=1)


def test_float64_images_are_converted_to_float32(small, cache_dir):
    double = small.to(dtype=torch.float64)
    assert double.x_train.dtype == torch.float64 and double.y_train.dtype == torch.long
    a = fit(fresh_vae(), double, epochs=1, device="cpu", cache=False, **QUIET)
    b = fit(fresh_vae(), small, epochs=1, device="cpu", cache=False, **QUIET)
    assert a.test == b.test  # the same numbers as the float32 images give


def test_epochs_zero_returns_the_untrained_model(small, cache_dir):
    history = fit(fresh_vae(), small, epochs=0, device="cpu", cache=False, **QUIET)
    assert history.train["loss"] == [] and history.seconds == 0.0 and history.epochs_run == 0


# --- subnormal numbers in the optimizer ------------------------------------------------------------

def test_flush_subnormals_zeroes_only_the_subnormal_numbers():
    tiny = torch.finfo(torch.float32).tiny
    weight = torch.nn.Parameter(torch.zeros(6))
    optimizer = torch.optim.Adam([weight], lr=1e-3)
    weight.grad = torch.ones(6)
    optimizer.step()
    state = optimizer.state[weight]
    values = torch.tensor([tiny / 2, -tiny / 4, tiny, -tiny, 0.0, 0.5])
    state["exp_avg"].copy_(values)
    state["exp_avg_sq"].copy_(values.abs())
    step = state["step"].clone()
    flush_subnormals(optimizer)
    kept = torch.tensor([0.0, 0.0, tiny, -tiny, 0.0, 0.5])
    assert torch.equal(state["exp_avg"], kept) and torch.equal(state["exp_avg_sq"], kept.abs())
    assert torch.equal(state["step"], step)


def test_fit_flushes_the_optimizer_once_after_every_epoch(small, cache_dir, monkeypatch):
    calls = []
    monkeypatch.setattr(T, "flush_subnormals", lambda optimizer: calls.append(len(optimizer.state)))
    fit(fresh_vae(), small, epochs=3, device="cpu", **QUIET)
    assert len(calls) == 3 and all(n > 0 for n in calls)  # after the steps, when Adam has state


# --- the learning rate's warm-up -----------------------------------------------------------------

def rates_of_each_step(monkeypatch):
    """A list that fills with the learning rate of every training step fit takes."""
    rates, real_step = [], T.train_step

    def recording_step(model, optimizer, *args):
        rates.append(optimizer.param_groups[0]["lr"])
        return real_step(model, optimizer, *args)

    monkeypatch.setattr(T, "train_step", recording_step)
    return rates


def test_the_learning_rate_rises_step_by_step_over_the_warm_up_epochs(small, cache_dir, monkeypatch):
    rates = rates_of_each_step(monkeypatch)
    steps = math.ceil(len(small.x_train) / 64)               # a ragged last batch is a step too
    h = fit(fresh_vae(), small, epochs=3, batch_size=64, lr=4e-3, lr_warmup_epochs=2, device="cpu", **QUIET)
    ramp = [4e-3 * k / (2 * steps) for k in range(1, 2 * steps + 1)]
    assert rates[: 2 * steps] == pytest.approx(ramp, rel=1e-6)
    assert rates[2 * steps:] == pytest.approx([4e-3] * steps, rel=1e-6)
    assert h.lr[0] < h.lr[1] == pytest.approx(4e-3, rel=1e-6) and h.lr[2] == pytest.approx(4e-3, rel=1e-6)


def test_without_a_warm_up_every_step_has_the_full_rate(small, cache_dir, monkeypatch):
    rates = rates_of_each_step(monkeypatch)
    fit(fresh_vae(), small, epochs=2, lr=2e-3, device="cpu", **QUIET)
    assert rates == [2e-3] * len(rates) and lr_warm_up(torch.optim.SGD([torch.zeros(1)], lr=1.0), 1) is None


def test_a_learning_rate_cut_during_the_warm_up_scales_the_rest_of_the_ramp():
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    warm_up = lr_warm_up(optimizer, 4)
    rates = []
    for step in range(6):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        if step == 1:
            optimizer.param_groups[0]["lr"] /= 3          # what a plateau cut does
        if warm_up.last_epoch < warm_up.total_iters:
            warm_up.step()
    assert rates == pytest.approx([0.25, 0.5, 0.75 / 3, 1 / 3, 1 / 3, 1 / 3])
