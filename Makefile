# `make run` sets up (`make setup` alone) and starts the wizard; `make test` sets up and runs the whole test suite.
VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip -q --disable-pip-version-check

.PHONY: setup run test test-fast lint bench system-deps clean

# torch first, pinned where there is no CUDA: a bare `torch` requirement would pull a multi-GB CUDA build
# where a CPU one will do (with CUDA, the `train` extra's own requirement picks the CUDA build)
CPU_TORCH := $(if $(shell command -v nvidia-smi 2>/dev/null),,torch==2.13.0)
EXTRAS    := train,verify,modal,record

# the whole wizard: dataset checks, local training, conversion, verification, Modal and recording
$(VENV)/.app: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(if $(CPU_TORCH),$(PIP) install $(CPU_TORCH))
	$(PIP) install -e '.[$(EXTRAS)]'
	touch $@

$(VENV)/.dev: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch first, pinned: a bare `torch` requirement would pull a multi-GB CUDA build where a CPU one will do
	$(PIP) install torch==2.13.0
	$(PIP) install 'pip>=25.1'  # --group: pyproject.toml's dependency groups
	$(PIP) install -e '.[$(EXTRAS)]' --group dev
	touch $@ $(VENV)/.app

setup: $(VENV)/.app

run: setup
	$(VENV)/bin/wacft-tui

system-deps:
	scripts/system-deps

# mypy checks the repo root as the package `wacft` through a link of that name (a clone's folder may be named
# anything); what it checks, and how strictly: pyproject.toml
lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	mkdir -p $(VENV)/mypy-path && ln -sfn $(CURDIR) $(VENV)/mypy-path/wacft
	MYPYPATH=$(VENV)/mypy-path $(VENV)/bin/mypy

test: $(VENV)/.dev system-deps lint
	$(VENV)/bin/pytest --durations=20

# the loop to run while working: all but the slow and end-to-end tests (pyproject.toml's markers)
test-fast: $(VENV)/.dev system-deps lint
	$(VENV)/bin/pytest -m "not slow and not e2e" -n auto

bench: $(VENV)/.dev system-deps
	for b in bench/bench_*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
