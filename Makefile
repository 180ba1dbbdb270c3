# One entry per habit. `make serve` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# What serving needs (requirements/runtime.txt), and on top of it the test and lint tools
# (requirements/dev.txt): both locked with hashes, the project itself installed without deps.
SERVE_STAMP := $(VENV)/.installed-runtime
STAMP := $(VENV)/.installed
LOCK_COMPILE = $(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 \
	--generate-hashes --quiet

.PHONY: serve test lint typecheck unit bench bench-reports chaos clean container-smoke locks

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(SERVE_STAMP): requirements/runtime.txt pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install --quiet --require-hashes -r requirements/runtime.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(SERVE_STAMP)

$(STAMP): requirements/dev.txt pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install --quiet --require-hashes -r requirements/dev.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP) $(SERVE_STAMP)

## Run the service on its embedded defaults (embedded PostgreSQL, inline transport).
serve: $(SERVE_STAMP)
	$(BIN)/router serve

## Refresh the locks from pyproject.toml (newest versions that fit), with hashes.
locks: | $(VENV)/bin/python
	$(BIN)/pip install --quiet "uv>=0.9"
	$(LOCK_COMPILE) --upgrade -o requirements/runtime.txt
	$(LOCK_COMPILE) --upgrade --extra dev -c requirements/runtime.txt -o requirements/dev.txt

## Lint, type-check, then every test against a real PostgreSQL and Apache Kafka.
test: $(STAMP) lint typecheck
	$(BIN)/python -m devstack run -- $(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests devstack migrations bench chaos
	$(BIN)/ruff format --check src tests devstack migrations bench chaos

typecheck: $(STAMP)
	$(BIN)/mypy

## Only the pure unit tests (no database, no broker).
unit: $(STAMP)
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

## End-to-end benchmark against the pipeline's own ceilings (BENCH_ARGS="--quick" for a short run).
bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m bench $(BENCH_ARGS)

## The reports API's latency on a million generated conversations (not part of `make test`;
## REPORTS_ARGS="--conversations 100000 --repeat 10" for a smaller run).
bench-reports: $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m devstack run -- $(BIN)/python -m bench.reports $(REPORTS_ARGS)

## The promises checked under faults: three brokers, PostgreSQL restarts, killed consumers
## (about 10 minutes; CHAOS_ARGS="--duration 120 --rate 80 --seed 7").
chaos: $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m chaos $(CHAOS_ARGS)

clean:
	rm -rf $(VENV) var

## Build the container image with podman and run it end to end (needs root).
container-smoke: $(STAMP)
	scripts/container-smoke
