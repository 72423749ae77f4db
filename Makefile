# spark-etl: every target installs what it needs first, so a fresh clone needs nothing by hand.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PIPELINE ?= batch_s3_pg
export SPARK_ETL_HOME ?= $(HOME)/.cache/spark-etl

help: ## List the targets and what they do
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@bash scripts/bootstrap.sh system
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

venv: $(STAMP) ## Create .venv with the pinned Python dependencies

jars: $(STAMP) ## Resolve the Spark connector jars (deps/connectors/pom.xml), build the local-FS helper (jvm/)
	$(BIN)/python -m spark_etl.runtime.jars resolve
	$(BIN)/python -m spark_etl.runtime.localfs

services: $(STAMP) ## Start PostgreSQL, MariaDB, Kafka (KRaft) and the S3 server on 127.0.0.1
	bash scripts/services.sh up

spark: $(STAMP) ## Start a Spark standalone master and worker on 127.0.0.1 (spark-submit target)
	bash scripts/services.sh up spark

package: $(STAMP) ## dist/: wheel (--py-files), conf and schemas archives, entry script, --packages list
	rm -rf dist
	$(BIN)/kedro package
	tar -czf dist/schemas-spark_etl.tar.gz schemas
	cp scripts/spark_submit_entry.py dist/spark_etl_entry.py
	$(BIN)/python -m spark_etl.runtime.jars packages > dist/packages.txt
	@ls -1 dist

bench: jars services ## Benchmarks vs hand-written baselines -> bench/results/ (SCALE=1 is full size)
	$(BIN)/python -m bench --scale $(or $(SCALE),1)

services-down: ## Stop the local servers (their data stays under .local/)
	bash scripts/services.sh down

lint: $(STAMP) ## ruff, mypy and the import-linter layer contracts
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

demo: jars services ## Run the main job: sample events to S3, then `kedro run --pipeline batch_s3_pg`
	$(BIN)/python scripts/demo.py

test: jars services ## Lint, then the whole suite against the real servers, with coverage of src/ >= 85%
	$(MAKE) lint
	$(BIN)/pytest --cov=spark_etl --cov-report=term --cov-report=xml $(PYTEST_ARGS)

run: jars services ## kedro run --pipeline $(PIPELINE)
	$(BIN)/kedro run --pipeline $(PIPELINE)

clean: ## Remove caches and build output (keeps .venv, jars and server data)
	rm -rf build dist .pytest_cache .mypy_cache .ruff_cache .coverage coverage.xml htmlcov

.PHONY: help venv jars services spark package bench services-down lint demo test run clean
