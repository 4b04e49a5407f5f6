# The two commands: `make run` and `make test`. Everything else is a step of theirs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
KAFKA_STAMP := .cache/kafka/.resolved-stamp

.PHONY: run test test-fast lint typecheck pytest system-deps demo-deps venv kafka-jars bench bench-tail clean

## run: create .venv, install the project, open the workstation on the local demo stack.
## Everything it writes (config, state, the demo's data) stays under .auren/ here.
run: demo-deps venv kafka-jars
	AUREN_TUI_HOME=$(CURDIR)/.auren AUREN_KAFKA_LIBS=$(CURDIR)/.cache/kafka/libs $(BIN)/auren-tui demo

## test: install what the tests need, then lint, type checks and the whole suite
test: system-deps venv kafka-jars lint typecheck pytest

## test-fast: lint, type checks and the tests that need no real service (about a minute:
## four workers, the tests wait on terminals and subprocesses more than they compute);
## a test that starts a service without the `services` mark fails here (tests/conftest.py)
test-fast: venv lint typecheck
	AUREN_TEST_TIER=fast $(BIN)/pytest -m "not services" -n 4

system-deps:
	@bash scripts/system-deps.sh

demo-deps:
	@bash scripts/system-deps.sh --demo

$(BIN)/python:
	@bash scripts/system-deps.sh --minimal
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --disable-pip-version-check -U pip
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

$(KAFKA_STAMP): tests/services/kafka/pom.xml
	rm -rf .cache/kafka/libs
	mvn -q -B -f tests/services/kafka/pom.xml dependency:copy-dependencies \
		-DoutputDirectory=$(CURDIR)/.cache/kafka/libs -DincludeScope=runtime
	@touch $(KAFKA_STAMP)

kafka-jars: $(KAFKA_STAMP)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: venv
	$(BIN)/mypy

pytest: venv
	$(BIN)/pytest --durations=25

bench: system-deps venv kafka-jars
	$(BIN)/python bench/bridge_ingest.py

## bench-tail: auren-tui tail --json vs kcat, and the Tail screen at 5,000 records/s
bench-tail: system-deps venv kafka-jars
	$(BIN)/python bench/tail.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
