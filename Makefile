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

.PHONY: help install chromium run test lint typecheck pytest unit e2e bench clean

help:
	@echo "make run        start the whole system (embedded NATS + PostgreSQL) on http://127.0.0.1:8000"
	@echo "make test       lint, type-check and run every test (real NATS and PostgreSQL)"
	@echo "make bench      run the benchmarks; figures go to bench/results/"
	@echo "make install    create .venv from uv.lock (and install Chromium if none is found)"

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(BIN)/tradelane: $(UV) pyproject.toml uv.lock $(wildcard */*/pyproject.toml) cli/pyproject.toml
	$(UV) sync --frozen
	@touch $@

install: $(BIN)/tradelane chromium

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

run: install
	$(BIN)/tradelane up

lint: $(BIN)/tradelane
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(BIN)/tradelane
	$(BIN)/mypy libs services cli bench tests conftest.py

pytest: install
	$(BIN)/pytest

test: lint typecheck pytest

unit: install
	$(BIN)/pytest -m "not e2e"

e2e: install
	$(BIN)/pytest -m e2e

bench: install
	$(BIN)/python -m bench.pipeline

clean:
	rm -rf $(VENV) $(TOOLS) .mypy_cache .ruff_cache .pytest_cache
