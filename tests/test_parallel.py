"""helpers.parallel.fit_each: several models at once in worker processes, the same models as fit one by one."""

import contextlib

import pytest
import torch

from helpers.models import VAE
from helpers.parallel import fit_each
from helpers.train import TrainingDivergedError, fit, set_seed

QUIET = dict(progress=False, device="cpu")


def vaes(seeds=(1, 2)):
    models = []
    for seed in seeds:
        set_seed(seed)
        models.append(VAE(latent_dim=4, hidden=64))
    return models


@contextlib.contextmanager
def torch_threads(n):
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def same_weights(a, b):
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_fit_each_gives_the_models_and_histories_of_fit_one_after_another(small, cache_dir, capsys):
    options = [dict(seed=1), dict(seed=2, beta=4.0)]
    one_by_one = vaes()
    with torch_threads(max(1, torch.get_num_threads() // 2)):   # a worker's share: on some CPUs (Intel's AVX-512
        expected = [fit(m, small, epochs=2, binarize_mode="dynamic", cache=False, **QUIET, **o)  # kernels) the
                    for m, o in zip(one_by_one, options)]       # rounding depends on the number of threads
    capsys.readouterr()
    together = vaes()
    histories = fit_each(together, small, options, processes=2, epochs=2, binarize_mode="dynamic", **QUIET)
    printed = capsys.readouterr().out.splitlines()
    for model, reference, history, wanted in zip(together, one_by_one, histories, expected):
        assert same_weights(model, reference) and not model.training
        assert history.train == wanted.train and history.validation == wanted.validation
        assert history.best_epoch == wanted.best_epoch and not history.from_cache
    assert [line.split(":")[0] for line in printed] == ["Trained VAE on cpu"] * 2       # each run's line, in order
    assert "beta" not in printed[0] and histories[1].beta == [4.0, 4.0]
    # the workers wrote the cache, as fit does: a second call loads both
    again = vaes()
    assert all(h.from_cache for h in fit_each(again, small, options, epochs=2, binarize_mode="dynamic", **QUIET))
    assert all(same_weights(a, b) for a, b in zip(again, together))


def test_an_error_in_a_worker_reaches_the_caller(small, cache_dir):
    with pytest.raises(TrainingDivergedError, match="learning rate too high"):
        fit_each(vaes(), small, processes=2, epochs=3, lr=1.0, **QUIET)


@pytest.mark.parametrize("kwargs, message", [
    ({"options": [{}]}, r"options has 1 entries for 2 models"),
    ({"callback": print}, r"callback is not valid in fit_each"),
    ({"processes": 0}, r"processes=0 is not valid; processes must be an integer >= 1"),
    ({"epochs": -1}, r"epochs=-1 is not valid"),
])
def test_bad_arguments_raise_before_anything_trains(kwargs, message, small, cache_dir):
    models = vaes()
    before = [{k: v.clone() for k, v in m.state_dict().items()} for m in models]
    with pytest.raises(ValueError, match=message):
        fit_each(models, small, **{"epochs": 1, **QUIET, **kwargs})
    assert not cache_dir.exists() or not any(cache_dir.iterdir())
    assert all(all(torch.equal(v, b[k]) for k, v in m.state_dict().items()) for m, b in zip(models, before))
