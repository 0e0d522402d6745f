# The two commands a new user needs:  make test  and  make run.
# Both create .venv (if absent) and install everything into it first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
ROOT_FLAG := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

.PHONY: install test test-browser run outputs lab bench clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

## make test: unit tests, papermill tests, every notebook under strict nbval (and the browser test when Chromium is installed)
test: $(STAMP)
	$(PY) -m pytest

## make test-browser: only the end-to-end JupyterLab test in headless Chromium
test-browser: $(STAMP)
	$(PY) -m pytest -m browser tests

## make run: execute every notebook in order into build/, render HTML, print each notebook's key numbers
run: $(STAMP)
	$(PY) -m helpers.run_notebooks

## make outputs: re-execute the notebooks at their defaults (offline data, fresh cache) and save them in place, cleaned
outputs: $(STAMP)
	$(PY) -m helpers.outputs

## make lab: JupyterLab on notebooks/ (open the URL it prints)
lab: $(STAMP)
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks $(ROOT_FLAG)

## make bench: the training-speed benchmark (see README)
bench: $(STAMP)
	$(PY) bench/train_speed.py
	$(PY) bench/log_likelihood_speed.py

clean:
	rm -rf build checkpoints
