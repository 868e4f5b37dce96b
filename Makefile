# pharmatrack — `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP_PY := $(VENV)/.installed
STAMP_NPM := node_modules/.installed
PYTEST_ARGS ?=

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

$(STAMP_PY): setup.cfg pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is needed ($(PYTHON) is $$($(PYTHON) --version))"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

$(STAMP_NPM): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

.PHONY: install
install: $(STAMP_PY) $(STAMP_NPM) ## Create the venv, pip install -e .[dev], npm ci (only what is missing)

.PHONY: compile
compile: install ## Compile the contracts to build/contracts
	$(BIN)/pharmatrack compile

.PHONY: run
run: install ## Start the whole stack (embedded Postgres, anvil, contracts, indexer, API) with demo data
	$(BIN)/pharmatrack up --demo

.PHONY: test
test: install ## Run the test suite (unit + integration against a real anvil and Postgres)
	$(BIN)/pytest $(PYTEST_ARGS)

.PHONY: fuzz
fuzz: install ## schemathesis over every operation of /openapi.json on `up --demo`, as a manufacturer, a pharmacy and a regulator (< 5 min)
	$(PY) -m tests.fuzz.run $(FUZZ_ARGS)

.PHONY: bench-epcis
bench-epcis: install ## 4 clients post EPCIS documents of 1,000 events for 30 s vs single scans in the same run (last line: epcis_events_per_s … ratio … gas_per_event …)
	$(PY) -m bench.epcis $(BENCH_EPCIS_ARGS)

.PHONY: bench-gas
bench-gas: install ## Gas per pack of the reference lifecycle vs a naive contract (last line: gas_per_pack … ratio …)
	$(PY) -m bench.gas

.PHONY: bench-index
bench-index: install ## Index ≥200k events from scratch vs the usual web3.py way (last line: events_per_s … ratio …)
	$(PY) -m bench.index

.PHONY: bench-ingest
bench-ingest: install ## Clients post single-unit ship/receive scans through gunicorn for 30 s (last line: accepted_per_s … txs … scans …)
	$(PY) -m bench.ingest $(BENCH_INGEST_ARGS)

.PHONY: bench-verify
bench-verify: install ## Verify packs against 10M serials through gunicorn with wrk for 30 s, vs a one-SELECT ceiling (last line: verify_rps … p99_ms … ceiling_rps … ratio …)
	@command -v wrk >/dev/null || apt-get install -y wrk
	$(PY) -m bench.verify $(BENCH_VERIFY_ARGS)

.PHONY: soak
soak: install ## Writes and reads against `pharmatrack up` while faults kill/stop its parts, 10 min (SOAK_SECONDS=…, SOAK_ARGS=--short; last line: soak_s … lost … http_5xx …)
	$(PY) -m bench.soak $(SOAK_ARGS)

.PHONY: lint
lint: install ## ruff check + format check + import-linter (the layers in setup.cfg)
	$(BIN)/ruff check app tests bench
	$(BIN)/ruff format --check app tests bench
	$(BIN)/lint-imports

.PHONY: fmt
fmt: install ## Format the code with ruff
	$(BIN)/ruff check --fix app tests bench
	$(BIN)/ruff format app tests bench

.PHONY: clean
clean: ## Remove build output and local data (keeps the venv and node_modules)
	rm -rf build .data .pytest_cache .ruff_cache .hypothesis .schemathesis

.PHONY: distclean
distclean: clean ## Also remove the venv and node_modules
	rm -rf $(VENV) node_modules *.egg-info
