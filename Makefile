# Carehub — every command sets up what it needs first (a venv in .venv with the repo's
# pinned ranges from pyproject.toml), so a fresh clone needs only python3 (>= 3.11) and make.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: setup demo test lint unit bench bench-quick fault audit fuzz clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

## Run the demo clinic on embedded defaults (SQLite, in-process transport); Ctrl-C to stop.
demo: $(STAMP)
	$(BIN)/carehub demo

## The whole suite: lint, types, import contracts, tests.
test: $(STAMP) lint unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

unit: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

## Fault injection: private RabbitMQ nodes killed -9, the hub killed at each kill point,
## sink and store outages (tests/fault; CAREHUB_FAULT_FULL=1 for the full sizes).
fault: $(STAMP)
	$(BIN)/pytest -m fault tests/fault -s $(PYTEST_ARGS)

## Dependency audit (pip-audit over .venv): 1 on a known vulnerability, 3 when nothing could be
## audited; AUDIT_ARGS=--allow-unaudited accepts the latter where the service is unreachable.
audit: $(STAMP)
	$(BIN)/python -m tests.security.audit_deps $(AUDIT_ARGS)

## Fuzz every parser longer than the suite does (docs/fuzzing.md); FUZZ_EXAMPLES=N
fuzz: $(STAMP)
	HYPOTHESIS_FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-200000} $(BIN)/python -m adapters.hl7v2.fuzz
	$(BIN)/python -m adapters.x12.fuzz --runs $${FUZZ_EXAMPLES:-200000} $${CAREHUB_CORPUS:-../shared/corpus}/x12/*
	HYPOTHESIS_FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-200000} $(BIN)/python -m adapters.fhir.fuzz

bench: $(STAMP)
	$(BIN)/python -m bench

bench-quick: $(STAMP)
	$(BIN)/python -m bench --quick

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
