# The two commands the README promises: `make run` and `make test`. Each installs what it needs.
VENV   ?= .venv
PYTHON ?= python3
BIN    := $(VENV)/bin

.PHONY: help install run test test-loaded lint format bench bench-jobs bench-startup bench-traces bench-webhooks bench-datasets bench-import mlflow-parity postgres azurite compose chromium

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check uv
	$(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python -e ".[test]"
	touch $@

install: $(BIN)/.installed ## Create .venv with Runyard and its test tools

run: install ## Start the server on the embedded defaults (SQLite + ./mlartifacts) at http://127.0.0.1:5000
	$(BIN)/runyard server

postgres: ## Install the PostgreSQL server the tests start (Debian package), if it is missing
	@if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 && [ -z "$$RUNYARD_TEST_POSTGRES_URI" ]; then \
		echo "installing PostgreSQL (Debian package)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	fi

AZURITE := $(VENV)/node/node_modules/.bin/azurite-blob

$(AZURITE):
	npm install --prefix $(VENV)/node --no-audit --no-fund --silent azurite@3.35.0

azurite: $(AZURITE) ## Install Azurite (the Azure Blob emulator, from npm) that the tests start

compose: ## Where Docker is installed without Compose, install docker-compose (Debian) to validate the stack
	@if command -v docker >/dev/null && ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null; then \
		echo "installing docker-compose (Debian package)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null; \
	fi

chromium: ## Install the headless Chromium (Debian packages) the web UI tests drive, if it is missing
	@if ! command -v chromium >/dev/null && [ -z "$$RUNYARD_TEST_CHROMIUM" ]; then \
		echo "installing Chromium (Debian packages)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	fi

test: install postgres azurite compose chromium ## Run the whole suite on SQLite and PostgreSQL, artifacts on a folder and Azurite, the UI in Chromium
	$(BIN)/uv lock --check --quiet
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m compileall -q server tests >/dev/null  # every server a test starts would compile them again
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder --durations=30  # longest files first (see tests/conftest.py); the slowest tests listed

test-loaded: install postgres azurite compose chromium ## make test with a busy loop on each core, as on a loaded machine
	@$(PYTHON) -c 'while True: pass' & h1=$$!; $(PYTHON) -c 'while True: pass' & h2=$$!; \
	trap 'kill $$h1 $$h2 2>/dev/null' EXIT INT TERM; \
	echo "CPU hogs $$h1 $$h2 running"; $(MAKE) --no-print-directory test

lint: install ## Lint, check formatting, types and the layering of imports
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

format: install ## Fix lint and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# MLflow's own server tests, from a checkout of MLflow's source at the version the client is pinned to, run twice:
# against `mlflow server` as MLflow runs them, then with tests/mlflow_parity/runyard_parity.py starting
# `runyard server` in their launchers. compare.py lists what passes on MLflow's server only, apart from the
# deliberate differences in README.md, and fails on any other.
MLFLOW_SOURCE       ?=
MLFLOW_VERSION      ?= 3.18.0
MLFLOW_PARITY_TESTS ?= tests/tracking/test_rest_tracking.py tests/tracking/test_model_registry.py tests/tracking/test_mlflow_artifacts.py
PARITY_PY           := $(abspath $(VENV))/mlflow-parity/bin/python
PARITY_OUT          := $(CURDIR)/test-output/mlflow-parity

mlflow-parity: install ## MLflow's server tests (MLFLOW_SOURCE=<mlflow checkout>) on mlflow server, then runyard server
	@test -d "$(MLFLOW_SOURCE)/tests/tracking" || { echo "set MLFLOW_SOURCE to a checkout of github.com/mlflow/mlflow at v$(MLFLOW_VERSION)"; exit 2; }
	@test -x $(PARITY_PY) || $(BIN)/uv venv -q --python $(BIN)/python $(abspath $(VENV))/mlflow-parity
	$(BIN)/uv pip install -q --python $(PARITY_PY) -e . "mlflow==$(MLFLOW_VERSION)" pytest \
		$$(test -f "$(MLFLOW_SOURCE)/requirements/test-requirements.txt" && echo -r "$(MLFLOW_SOURCE)/requirements/test-requirements.txt")
	mkdir -p $(PARITY_OUT)
	-cd "$(MLFLOW_SOURCE)" && $(PARITY_PY) -m pytest -q -p no:cacheprovider $(MLFLOW_PARITY_TESTS) --junitxml=$(PARITY_OUT)/mlflow.xml
	-cd "$(MLFLOW_SOURCE)" && PYTHONPATH=$(CURDIR)/tests/mlflow_parity $(PARITY_PY) -m pytest -q -p no:cacheprovider \
		-p runyard_parity $(MLFLOW_PARITY_TESTS) --junitxml=$(PARITY_OUT)/runyard.xml
	$(PARITY_PY) tests/mlflow_parity/compare.py $(PARITY_OUT)/mlflow.xml $(PARITY_OUT)/runyard.xml README.md

bench: install ## Benchmark Runyard against `mlflow server` (prints a table)
	$(BIN)/python -m bench

bench-startup: install ## Start-up: exec to /health for Runyard and `mlflow server`, and `runyard --help`
	$(BIN)/python -m bench.startup

bench-jobs: install ## Job queue: no-op jobs/s through 4 workers, and submit-to-running latency
	$(BIN)/python -m bench.jobs

bench-webhooks: install ## Registry webhooks next to `mlflow server`: a version write with and without one webhook, deliveries
	$(BIN)/python -m bench.webhooks

bench-datasets: install ## Evaluation datasets next to `mlflow server`: 100,000 records upserted and read back, mlflow.genai.evaluate of 1,000 rows
	$(BIN)/python -m bench.datasets

bench-import: install ## Moving history: `runyard import` next to mlflow-export-import, from one `mlflow server`
	$(BIN)/python -m bench.imports

bench-traces: install ## Tracing next to `mlflow server`: stock-client traces/s, OTLP spans/s, search, a 10,000-span get
	$(BIN)/python -m bench.traces
