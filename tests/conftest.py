import os

import pytest
import torch

from helpers.data import load_data
from helpers.train import resolve_device


@pytest.fixture(scope="session")
def mnist():
    """The offline MNIST subset (pinned by the root conftest): 3,600 train / 400 validation / 1,000 test digits."""
    return load_data("mnist", verbose=False)


@pytest.fixture(scope="session")
def small(mnist):
    """A small slice of it, spread over all ten digits (the offline split is sorted by class), for
    fast training tests: 512 train / 128 validation / 256 test."""
    from helpers.data import ImageData, spread_indices

    def part(x, y, n):
        idx = spread_indices(len(x), n)
        return x[idx], y[idx]
    return ImageData(mnist.name, mnist.source, *part(mnist.x_train, mnist.y_train, 512),
                     *part(mnist.x_test, mnist.y_test, 256), *part(mnist.x_val, mnist.y_val, 128))


@pytest.fixture(scope="session")
def device():
    """$VAE_TEST_DEVICE (e.g. cuda on a GPU machine), else auto."""
    return resolve_device(os.environ.get("VAE_TEST_DEVICE", "auto"))


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("VAE_CACHE_DIR", str(d))
    return d


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
