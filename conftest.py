"""pytest set-up for the whole repo: unit tests (tests/) and notebooks (--nbval notebooks).

- Data: the offline MNIST subset is pinned, so no result depends on the network.
- Checkpoints: a cache folder of the test run's own (build/test-cache), emptied at the start,
  so that every run trains what it needs, as CI does on a fresh clone.
- Order: the tests marked `after_nbval` run after the nbval items, whose cached models they reuse.
- nbval: the sanitize rules in tests/nbval_sanitize.cfg apply wherever pytest is run from, and
  stderr (progress bars, warnings) is not compared.
- Missing parts (book/parts.py): a test that needs something not installed (Chromium, Debian's
  Fashion-MNIST) skips on a learner's machine, and the run's summary says so; under CI=true it fails.
- Versions: at the end of every run, build/versions.txt records what it ran with (Python, the
  libraries, the site's MathJax, Chromium) and how it ended, so a course next year knows what worked.
"""

import os
import platform
import re
import shutil
import subprocess
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent
TEST_CACHE = ROOT / "build" / "test-cache"
VERSIONS = ROOT / "build" / "versions.txt"
# What the suite depends on, in the order a reader looks for them. jupyter-server-mathjax is where
# the website's MathJax comes from (book/site.py).
PACKAGES = ("torch", "torchvision", "numpy", "matplotlib", "ipywidgets", "ipykernel", "jupyterlab",
            "jupyterlab-widgets", "nbval", "papermill", "nbconvert", "nbformat", "nbclient", "playwright",
            "jupyter-server-mathjax", "pytest", "pytest-xdist", "ruff", "pre-commit", "mlxtend")

pytest_plugins = ["book.parts"]

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


def pytest_collection_modifyitems(config, items):
    """Tests marked `after_nbval` (the solutions in each notebook's reference run) go last: they reuse the
    models that the nbval items train into the test cache, and an nbval item run after them would find
    its models cached and print "Loaded ... from the cache" where the committed output says it trained.

    Notebook 05's reference run is on Fashion-MNIST, which works offline only with Debian's
    dataset-fashion-mnist package (`.ci/run` installs it): without it, nbval skips that notebook, and
    the tests of 05's reference run skip with it."""
    from helpers.data import FASHION_MNIST_DEBIAN_DIR

    items[:] = ([i for i in items if i.get_closest_marker("after_nbval") is None]
                + [i for i in items if i.get_closest_marker("after_nbval") is not None])
    if os.environ.get("VAE_DATA_SOURCE") == "offline" and not FASHION_MNIST_DEBIAN_DIR.exists():
        import pytest

        skip = pytest.mark.skip(reason="needs Fashion-MNIST offline: apt-get install dataset-fashion-mnist")
        for item in items:
            reference_run_of_05 = (item.get_closest_marker("after_nbval") is not None
                                   and getattr(item, "callspec", None) is not None
                                   and item.callspec.params.get("name") == "05_going_further")
            if "05_going_further.ipynb" in str(item.fspath) or reference_run_of_05:
                item.add_marker(skip)


def pytest_collectstart(collector):
    if collector.__class__.__name__ == "IPyNbFile":
        collector.skip_compare += ("stderr",)


def versions_report(exitstatus: int) -> str:
    """What this run ran with, one `name: version` line each (build/versions.txt)."""
    lines = [f"# written by conftest.py at the end of a pytest run; {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
             f"result: exit status {int(exitstatus)} ({'passed' if int(exitstatus) == 0 else 'not passed'})",
             f"python: {platform.python_version()} ({platform.python_implementation()}, {platform.system()} "
             f"{platform.machine()})"]
    for name in PACKAGES:
        try:
            lines.append(f"{name}: {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            lines.append(f"{name}: not installed")
    try:
        import jupyter_server_mathjax

        mathjax = (Path(jupyter_server_mathjax.__file__).parent / "static" / "MathJax.js").read_text(errors="replace")
        found = re.search(r'MathJax\.version="([^"]+)"', mathjax)
        lines.append(f"mathjax: {found.group(1) if found else 'unknown'} (the website's, from jupyter-server-mathjax)")
    except (ImportError, OSError):
        lines.append("mathjax: not installed")
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    try:
        out = subprocess.run([chromium, "--version"], capture_output=True, text=True, timeout=20).stdout.strip()
        lines.append(f"chromium: {out.splitlines()[-1] if out else 'unknown'}")
    except (OSError, subprocess.SubprocessError):
        lines.append(f"chromium: not installed ({chromium}; the browser tests did not run)")
    return "\n".join(lines) + "\n"


def pytest_sessionfinish(session, exitstatus):
    if hasattr(session.config, "workerinput"):  # an xdist worker: the controller writes the file
        return
    VERSIONS.parent.mkdir(parents=True, exist_ok=True)
    VERSIONS.write_text(versions_report(exitstatus))
