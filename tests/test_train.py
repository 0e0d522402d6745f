import math

import pytest
import torch

from helpers.data import ImageData
from helpers.models import VAE, AutoEncoder
from helpers.train import TrainingDivergedError, evaluate, fit, resolve_device, set_seed


def fresh_vae(seed=0, latent_dim=2):
    set_seed(seed)
    return VAE(latent_dim=latent_dim, hidden=64)


@pytest.mark.parametrize("cls", [AutoEncoder, VAE])
def test_one_epoch_lowers_the_test_loss(cls, mnist, device, cache_dir):
    set_seed(0)
    model = cls(latent_dim=2, hidden=64).to(device)
    before = evaluate(model, mnist.x_test.to(device))["loss"]
    history = fit(model, mnist, epochs=1, device=device, progress=False, verbose=False)
    assert history.test["loss"][0] < before - 100  # from ~545 nats (random pixels) to well under 450
    assert len(history.train["loss"]) == 1 and history.epoch_seconds[0] > 0
    if cls is AutoEncoder:
        assert history.train["kl"] == [0.0]
    else:
        assert history.train["kl"][0] > 0
        assert math.isclose(history.train["loss"][0], history.train["reconstruction"][0] + history.train["kl"][0],
                            rel_tol=1e-6)


def test_beta_weights_the_kl(small, cache_dir):
    history = fit(fresh_vae(), small, epochs=1, beta=4.0, device="cpu", progress=False, verbose=False)
    t = history.train
    assert math.isclose(t["loss"][0], t["reconstruction"][0] + 4.0 * t["kl"][0], rel_tol=1e-6)


def test_same_seed_gives_the_identical_history_on_cpu(small, cache_dir):
    kw = dict(epochs=2, device="cpu", progress=False, verbose=False, cache=False, binarize_mode="dynamic")
    a = fit(fresh_vae(), small, **kw)
    b = fit(fresh_vae(), small, **kw)
    c = fit(fresh_vae(), small, **{**kw, "seed": 1})
    assert a.train == b.train and a.test == b.test
    assert a.train != c.train


def test_cache_miss_hit_and_a_changed_setting(small, cache_dir, capsys):
    model = fresh_vae()
    first = fit(model, small, epochs=1, device="cpu", progress=False)
    files = list(cache_dir.glob("*.pt"))
    assert len(files) == 1 and not first.from_cache
    assert "Trained VAE" in capsys.readouterr().out

    again = fresh_vae()
    second = fit(again, small, epochs=1, device="cpu", progress=False)
    assert second.from_cache and "Loaded VAE from the cache" in capsys.readouterr().out
    assert second.test == first.test
    for (k, v), (_, w) in zip(model.state_dict().items(), again.state_dict().items()):
        assert torch.equal(v, w), k

    fit(fresh_vae(), small, epochs=1, lr=2e-3, device="cpu", progress=False, verbose=False)
    fit(fresh_vae(seed=1), small, epochs=1, device="cpu", progress=False, verbose=False)  # other initial weights
    assert len(list(cache_dir.glob("*.pt"))) == 3


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_a_corrupt_cache_file_is_retrained_not_a_crash(damage, small, cache_dir, capsys):
    fit(fresh_vae(), small, epochs=1, device="cpu", progress=False, verbose=False)
    (path,) = cache_dir.glob("*.pt")
    raw = path.read_bytes()
    path.write_bytes({"truncate": raw[: len(raw) // 2], "garbage": b"\x00not a checkpoint" * 50, "empty": b""}[damage])
    history = fit(fresh_vae(), small, epochs=1, device="cpu", progress=False)
    assert not history.from_cache
    assert "unreadable" in capsys.readouterr().out
    assert fit(fresh_vae(), small, epochs=1, device="cpu", progress=False, verbose=False).from_cache


def test_callback_snapshots_are_kept_and_replayed_from_the_cache(small, cache_dir):
    calls = []

    def snapshot(epoch, model):
        calls.append(epoch)
        return {"epoch": epoch, "samples": model.sample(2, torch.Generator().manual_seed(0))}

    h = fit(fresh_vae(), small, epochs=2, callback=snapshot, device="cpu", progress=False, verbose=False)
    assert calls == [0, 1] and [s["epoch"] for s in h.snapshots] == [0, 1]
    h2 = fit(fresh_vae(), small, epochs=2, callback=snapshot, device="cpu", progress=False, verbose=False)
    assert h2.from_cache and calls == [0, 1]
    assert torch.equal(h2.snapshots[1]["samples"], h.snapshots[1]["samples"])


def test_nan_guard_stops_with_a_clear_error_and_restores_the_weights(small, cache_dir):
    model = fresh_vae()
    with torch.no_grad():
        model.decoder[0].weight[0, 0] = float("nan")
    with pytest.raises(TrainingDivergedError, match=r"diverged in epoch 1.*learning rate"):
        fit(model, small, epochs=2, device="cpu", progress=False)
    assert not list(cache_dir.glob("*.pt"))


def test_a_huge_learning_rate_is_caught(small, cache_dir):
    set_seed(0)
    model = AutoEncoder(latent_dim=2, hidden=64)
    try:
        fit(model, small, epochs=3, lr=1e8, device="cpu", progress=False, verbose=False)
    except TrainingDivergedError as err:
        assert "lr=1e+08" in str(err)
        assert all(torch.isfinite(p).all() for p in model.parameters())
    else:  # if it did not diverge, the losses must at least be finite
        assert all(torch.isfinite(p).all() for p in model.parameters())


@pytest.mark.parametrize("kwargs, message", [
    ({"epochs": -1}, r"epochs=-1.*>= 0"),
    ({"epochs": 1.5}, r"epochs=1.5"),
    ({"batch_size": 0}, r"batch_size=0.*>= 1"),
    ({"lr": 0}, r"lr=0.*> 0"),
    ({"lr": -1e-3}, r"lr=-0.001"),
    ({"beta": -1}, r"beta=-1"),
    ({"binarize_mode": "soft"}, r"binarize_mode='soft'.*'none', 'static', 'dynamic'"),
    ({"device": "tpu"}, r"device='tpu'.*'auto', 'cpu', 'cuda'"),
])
def test_bad_arguments_raise_and_write_nothing(kwargs, message, small, cache_dir):
    model = fresh_vae()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match=message):
        fit(model, small, **{"epochs": 1, "progress": False, **kwargs})
    assert not cache_dir.exists() or not any(cache_dir.iterdir())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_says_so(small, cache_dir):
    with pytest.raises(ValueError, match="CUDA is not available"):
        fit(fresh_vae(), small, epochs=1, device="cuda")
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda:0")


def test_auto_device_is_a_real_device():
    assert resolve_device("auto").type in ("cuda", "mps", "cpu")
    assert resolve_device("cpu") == torch.device("cpu")


def test_images_outside_0_1_are_refused(small, cache_dir):
    bad = ImageData("mnist", "test", small.x_train * 255, small.y_train, small.x_test, small.y_test)
    with pytest.raises(ValueError, match=r"values in \[0, 255\].*\[0, 1\]"):
        fit(fresh_vae(), bad, epochs=1)
    assert not cache_dir.exists()


def test_epochs_zero_returns_the_untrained_model(small, cache_dir):
    history = fit(fresh_vae(), small, epochs=0, device="cpu", progress=False, verbose=False, cache=False)
    assert history.train["loss"] == [] and history.seconds == 0.0
