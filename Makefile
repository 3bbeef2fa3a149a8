# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PORT ?= 8888

.PHONY: venv demo test lint bench browser-deps train mutate clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

# JupyterLab refuses to start as root (containers, CI machines) unless told it may.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)

## Start JupyterLab on the tour notebook (bundled model, no downloads).
demo: $(STAMP)
	@echo "Starting JupyterLab on http://127.0.0.1:$(PORT)/lab/tree/notebooks/01_tour.ipynb"
	@echo "(open the URL with the token that JupyterLab prints below)"
	$(VENV)/bin/jupyter lab --ip=127.0.0.1 --port=$(PORT) --no-browser $(ALLOW_ROOT) \
		--ServerApp.root_dir=$(CURDIR) notebooks/01_tour.ipynb

## Debian's chromium for the browser tests (never a downloaded browser).
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
		else echo "Browser tests need Debian's chromium: sudo apt-get install chromium"; exit 1; fi; }

## Style (ruff) and the engine's types (mypy).
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

## Every test: engine, widgets, notebooks and real-browser tests.
test: $(STAMP) browser-deps lint
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) -m benchmarks

## Mutation testing of render, cam/, gradients, images and paging against the fast tests;
## prints killed / total per module and every survivor (slow, so not part of `make test`).
mutate: $(STAMP)
	$(PY) scripts/mutate.py

## Retrain the bundled shapes models (about 13 minutes each on 2 cores).
train: $(STAMP)
	$(PY) -m convviz_widgets.zoo.train

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache test-artifacts mutation-report *.egg-info
