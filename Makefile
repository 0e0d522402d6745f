# The two commands a new user needs:  make test  and  make run.
# Both create .venv (if absent) and install everything into it first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
ROOT_FLAG := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

.PHONY: install lint test test-browser run site outputs lab bench clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

## make lint: the pre-commit hooks on every tracked file (ruff on helpers/, book/, tests/, bench/ and the notebooks' code; no file over 2 MB)
## Outside a git checkout (pre-commit needs one) it runs ruff alone.
lint: $(STAMP)
	@if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
	  PATH="$(abspath $(VENV))/bin:$$PATH" $(VENV)/bin/pre-commit run --all-files; \
	else \
	  echo "make lint: not a git checkout, so no pre-commit hooks; running ruff alone"; \
	  $(VENV)/bin/ruff check helpers book tests bench notebooks conftest.py; \
	fi

## make test: lint, then unit tests, papermill tests, every notebook under strict nbval, the site and browser tests
## (the browser tests when Chromium is installed); the versions it ran with go to build/versions.txt
test: $(STAMP) lint
	$(PY) -m pytest

## make test-browser: only the browser tests in headless Chromium (JupyterLab end to end; the website offline)
test-browser: $(STAMP)
	$(PY) -m pytest -m browser tests

## make run: execute every notebook in order into build/, build the website build/site/ from them, print a table of
## each notebook's time, claims and headline numbers (every number: build/metrics.json)
run: $(STAMP)
	$(PY) -m book.run_notebooks

## make site: the website build/site/ from the committed notebooks as they are (nothing is executed)
site: $(STAMP)
	$(PY) -m book.site

## make outputs: re-execute the notebooks at their defaults (offline data, fresh cache) and save them in place, cleaned
outputs: $(STAMP)
	$(PY) -m book.outputs

## make lab: JupyterLab on notebooks/ (open the URL it prints)
lab: $(STAMP)
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks $(ROOT_FLAG)

## make bench: the benchmarks (see README): training speed, time to quality, the IS log-likelihood
bench: $(STAMP)
	$(PY) bench/train_speed.py
	$(PY) bench/time_to_quality.py
	$(PY) bench/parallel_fit.py
	$(PY) bench/log_likelihood_speed.py

clean:
	rm -rf build checkpoints
