# churnguard's front door. `make demo` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_DATA := data/sample
DEMO_CUSTOMERS ?= 20000
LAYERS := build/layers

.PHONY: help install demo test test-fast lint layers format notebook bench browser postgres java clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip==26.3"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)  ## create .venv and install pinned dependencies

demo: install  ## generate the 20k-customer sample and run the whole pipeline on it
	$(BIN)/churn demo --data $(DEMO_DATA) --customers $(DEMO_CUSTOMERS)

lint: install layers  ## ruff lint + format check, notebooks stripped of outputs, layer contract
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@if ls notebooks/*.ipynb >/dev/null 2>&1; then $(BIN)/nbstripout --verify notebooks/*.ipynb; fi

# The contract is checked on the layout pip installs (the user's folders mapped into churnguard.*),
# built afresh so no stale module can hide an import.
layers: install  ## import contract: no layer imports a layer above it (pyproject.toml)
	@rm -rf build
	$(BIN)/python -m pip install --quiet --no-deps --target $(LAYERS) .
	cd $(LAYERS) && $(CURDIR)/$(BIN)/lint-imports --no-logo --no-cache $(CURDIR)/pyproject.toml

format: install  ## apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

browser:  ## headless Chromium + ChromeDriver for the report test (Debian packages)
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver)

# The tests start their own throw-away server from these binaries (tests/pg_cluster.py); the package's
# default cluster is not used.
postgres:  ## PostgreSQL server binaries (initdb, pg_ctl) for the database tests (Debian package)
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql)

# Spark (engine: spark) runs on a Java runtime; PySpark 4.0 supports 17 and 21.
java:  ## a Java runtime for the Spark tests (Debian package)
	@command -v java >/dev/null || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless)

test: install lint browser postgres java  ## lint, then the whole test suite
	$(BIN)/python -m pytest

test-fast: install postgres  ## the tests without the slow end-to-end ones (and without Spark)
	$(BIN)/python -m pytest -m "not slow and not spark"

notebook: install  ## Jupyter Lab in the project's environment
	$(BIN)/jupyter lab notebooks/

bench: install  ## the benchmarks (1M customers; several minutes)
	$(BIN)/python benchmarks/run_all.py

clean:  ## remove generated data, stores and caches (keeps .venv)
	rm -rf data output .churnguard mlruns .pytest_cache .ruff_cache test-artifacts build
