"""pytest set-up for the whole repo: unit tests (tests/) and notebooks (--nbval notebooks).

- Data: the offline MNIST subset is pinned, so no result depends on the network.
- Checkpoints: a cache folder of the test run's own (build/test-cache), emptied at the start,
  so that every run trains what it needs, as CI does on a fresh clone.
- nbval: the sanitize rules in tests/nbval_sanitize.cfg apply wherever pytest is run from, and
  stderr (progress bars, warnings) is not compared.
"""

import os
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent
TEST_CACHE = ROOT / "build" / "test-cache"

os.environ.setdefault("VAE_DATA_SOURCE", "offline")
os.environ.setdefault("VAE_CACHE_DIR", str(TEST_CACHE))


def pytest_configure(config):
    if os.environ["VAE_CACHE_DIR"] == str(TEST_CACHE) and not hasattr(config, "workerinput"):
        shutil.rmtree(TEST_CACHE, ignore_errors=True)
    option = config.option
    if getattr(option, "nbval_sanitize_with", "unset") is None:
        option.nbval_sanitize_with = str(ROOT / "tests" / "nbval_sanitize.cfg")
    if hasattr(option, "nbval_current_env"):
        option.nbval_current_env = True  # the kernel runs in pytest's interpreter: helpers is importable


def pytest_collectstart(collector):
    if collector.__class__.__name__ == "IPyNbFile":
        collector.skip_compare += ("stderr",)
