# One entry per habit. `make serve` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test lint typecheck unit bench chaos clean container-smoke

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## Run the service on its embedded defaults (embedded PostgreSQL, inline transport).
serve: $(STAMP)
	$(BIN)/router serve

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
