# The two commands: `make run` (quick evaluation of every framework, then the report) and
# `make test` (lint, types and the whole test suite). Both set up what they need, once.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.dlarena-installed

.PHONY: run test lint envs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

envs: $(STAMP)
	$(BIN)/dlarena envs create

run: envs
	$(BIN)/dlarena bench --quick
	$(BIN)/dlarena report

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/mypy

test: envs lint
	$(BIN)/pytest

clean:
	rm -rf $(VENV) .dlarena dlarena-report
