# The two commands: `make run` (quick evaluation of every framework, then the report) and
# `make test` (lint, types and the whole test suite). Both set up what they need, once.
# `make test-fast` runs the tests that start no worker process (under a minute).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.dlarena-installed
DEV := $(VENV)/.dlarena-dev

CHROMIUM := /usr/bin/chromium

.PHONY: run test test-fast lint envs envs-quick clean

# dlarena and what it runs on, in .venv (`make run`); with the tests' and linters' tools too
# (`make test`: one install, where `make run` goes without them: 7 CPU-s less beside the
# environments' making on two cores). Bytecode now, as pip does for an installed package: every
# dlarena command starts from it, also where PYTHONDONTWRITEBYTECODE is set.
define INSTALL
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '$(1)'
	$(BIN)/python -m compileall -q src
endef

$(STAMP): pyproject.toml
	$(call INSTALL,.)
	touch $(STAMP)

$(DEV): pyproject.toml
	$(call INSTALL,.[dev])
	touch $(STAMP) $(DEV)

# The environments are made with the standard library alone (`dlarena envs create` does the same),
# so they install side by side with dlarena's own dependencies.
ENVS := PYTHONPATH=src $(PYTHON) -m dlarena.runner.making

envs:
	@$(ENVS)

# The quick evaluation needs the main and MXNet environments (hf serves `dlarena fidelity`).
envs-quick:
	@$(ENVS) main mxnet

# The report is written even when a cell failed (bench exits 1: the report says which); make
# then exits 1 as well. An input error (2) or Ctrl-C (130) stops before the report. The probes'
# tables go to dlarena-report/probes.txt; the report reads their stored records.
run:
	@$(MAKE) --no-print-directory -j2 $(STAMP) envs-quick
	@$(BIN)/dlarena bench --quick; status=$$?; \
	if [ $$status -gt 1 ]; then exit $$status; fi; \
	mkdir -p dlarena-report; \
	{ $(BIN)/dlarena probe debug && $(BIN)/dlarena probe deploy --quick --workload mlp; } \
		> dlarena-report/probes.txt || exit $$?; \
	$(BIN)/dlarena report && exit $$status

lint: $(DEV)
	$(BIN)/ruff check src tests
	$(BIN)/mypy

# The browser tests drive Debian's Chromium (never a downloaded browser).
$(CHROMIUM):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

# One test process more than there are CPUs: some tests wait on a browser, a server or Dask,
# and the CPUs stay busy meanwhile. Whole files go to one process (a module's shared fixture
# runs once), longest first (the order conftest.py gives).
TEST_PROCESSES := $(shell echo $$(( $$(nproc) + 1 )))

# What the tests need is made side by side: pip installing the environments, the linters and apt
# fetching the browser wait on different things.
test:
	$(MAKE) --no-print-directory -j4 $(DEV) envs lint $(CHROMIUM)
	$(BIN)/pytest -n $(TEST_PROCESSES) --dist loadfile --no-loadscope-reorder

test-fast: $(DEV)
	$(BIN)/pytest -m "not slow" -n auto

# The environments stay: they live in one folder per user, shared by every checkout of the same
# pins (`dlarena envs list` names it).
clean:
	rm -rf $(VENV) .dlarena dlarena-report
