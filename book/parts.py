"""A pytest plugin (the root conftest.py loads it): what a missing part of the suite does.

Some tests need something that `pip install` does not bring: Debian's chromium (the browser
tests, the site test), Debian's dataset-fashion-mnist (notebook 05 under nbval, the Fashion-MNIST
data tests), or a package that failed to install (the test is then skipped by
``pytest.importorskip``). Such a test skips with a reason that says what to install
(``apt-get install chromium``), or that a module could not be imported.

- On a learner's machine a missing part is skipped, and the end of the run lists what was
  skipped, how many tests each, and what to install;
- under CI (the environment variable ``CI=true``, which CI services set and ``.ci/run`` sets too),
  each such skip is a failure naming what is missing, so that CI cannot be green with a part of
  the suite unrun. Other skips (``this machine has CUDA``) stay skips.
"""

from __future__ import annotations

import os
import re

import pytest

MISSING_PART = re.compile(r"(?:apt-get|pip) install [\w.-]+|could not import '[\w.]+'")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")


def missing_part(report) -> tuple[str, str] | None:
    """(what to install, the skip's reason) if `report` is a skip for a missing part, else None."""
    if not report.skipped or not isinstance(report.longrepr, tuple):
        return None
    reason = str(report.longrepr[2]).removeprefix("Skipped: ")
    found = MISSING_PART.search(reason)
    if not found:
        return None
    part = found.group(0)
    if part.startswith("could not import"):
        part = f"the Python package of {part.split(chr(39))[1].split('.')[0]} (pip install -e '.[dev]')"
    return part, reason


def _judge(report) -> None:
    found = missing_part(report)
    if found is not None and in_ci():
        part, reason = found
        report.outcome = "failed"
        report.longrepr = (f"CI=true and a part of the suite is missing: {reason}. To install it: {part} "
                           "(.ci/run installs the system packages); or unset CI to let it skip.")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _judge(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    _judge(outcome.get_result())


def pytest_terminal_summary(terminalreporter):
    skipped: dict[str, int] = {}  # what is missing -> how many tests (or modules) skipped for it
    for report in terminalreporter.stats.get("skipped", []):
        found = missing_part(report)
        if found is not None:
            skipped[found[0]] = skipped.get(found[0], 0) + 1
    if not skipped:
        return
    terminalreporter.section("parts of the suite that did not run", sep="-", yellow=True)
    for part, count in sorted(skipped.items()):
        terminalreporter.line(f"{count} skipped: they need {part}")
    terminalreporter.line("Install them to run everything; under CI=true each of these is a failure.")
