# spark-etl: the framework (src/spark_etl, with its Kedro starter) and the example project made from
# the starter (example/). Every target installs what it needs first: a fresh clone needs nothing by
# hand.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed
EXAMPLE := example
PIPELINE ?= batch_s3_pg
export SPARK_ETL_HOME ?= $(HOME)/.cache/spark-etl
# Airflow 3 in a virtualenv of its own (its dependencies are not the project's): the DAG tests.
AIRFLOW_VERSION := 3.3.2
AIRFLOW_PROVIDERS_STANDARD := 1.21.0
export SPARK_ETL_AIRFLOW_VENV ?= $(SPARK_ETL_HOME)/airflow-$(AIRFLOW_VERSION)
# Coverage of the framework, over this repository's tests and the example project's own.
export COVERAGE_FILE := $(CURDIR)/.coverage

help: ## List the targets and what they do
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml setup.py $(EXAMPLE)/pyproject.toml
	@bash src/spark_etl/stack/bootstrap.sh system
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]' -e './$(EXAMPLE)[dev]'
	@touch $@

venv: $(STAMP) ## Create .venv: the framework and the example project (editable), the dev tools
	@true

jars: $(STAMP) ## Build the JVM helper (jvm/) and resolve the Spark connector jars (once)
	$(BIN)/python jvm/build_jar.py >/dev/null
	$(BIN)/spark-etl jars resolve >/dev/null

services: $(STAMP) ## Start the example's local stack: PostgreSQL, MariaDB, S3, Kafka on 127.0.0.1
	cd $(EXAMPLE) && $(BIN)/kedro services up

spark: $(STAMP) ## Start a Spark standalone master and worker on 127.0.0.1 (spark-submit target)
	cd $(EXAMPLE) && $(BIN)/kedro services up spark

services-down: ## Stop the local servers (their data stays under example/.local/)
	cd $(EXAMPLE) && $(BIN)/kedro services down

demo: jars services ## Run the main job: sample events to S3, then kedro run in example/
	cd $(EXAMPLE) && $(BIN)/python scripts/demo.py

run: jars services ## kedro run --pipelines $(PIPELINE) in example/
	cd $(EXAMPLE) && $(BIN)/kedro run --pipelines $(PIPELINE)

airflow: ## Airflow $(AIRFLOW_VERSION) in its own virtualenv under $SPARK_ETL_HOME (once)
	@test -f $(SPARK_ETL_AIRFLOW_VENV)/.installed || { \
	  $(PYTHON) -m venv $(SPARK_ETL_AIRFLOW_VENV) && \
	  $(SPARK_ETL_AIRFLOW_VENV)/bin/pip install -q --upgrade pip && \
	  $(SPARK_ETL_AIRFLOW_VENV)/bin/pip install -q "apache-airflow==$(AIRFLOW_VERSION)" \
	    "apache-airflow-providers-standard==$(AIRFLOW_PROVIDERS_STANDARD)" && \
	  touch $(SPARK_ETL_AIRFLOW_VENV)/.installed; }

wheel: $(STAMP) ## dist/: the framework's wheel (with its JVM helper and starter)
	rm -rf dist
	$(BIN)/pip wheel -q --no-deps -w dist .
	@ls -1 dist

package: jars ## example/dist/: the example's wheel, conf and schemas archives, entry script, --packages
	cd $(EXAMPLE) && rm -rf dist && $(BIN)/kedro package && tar -czf dist/schemas-spark_etl_example.tar.gz schemas
	cp $(EXAMPLE)/scripts/spark_submit_entry.py $(EXAMPLE)/dist/spark_etl_example_entry.py
	cd $(EXAMPLE) && $(BIN)/spark-etl jars packages > dist/packages.txt  # conf/logging.yml: stdout holds only the list
	cd $(EXAMPLE) && $(BIN)/spark-etl jars excludes > dist/excludes.txt
	@ls -1 $(EXAMPLE)/dist

bench: jars services ## Benchmarks vs hand-written baselines -> bench/results/ (SCALE=1 is full size)
	$(BIN)/python -m bench --scale $(or $(SCALE),1)

# The offered rates of the capacity curve (events/s), up to past the pipeline's saturation.
CAPACITY_RATES ?= 50000,100000,200000,400000,600000
bench-capacity: jars services ## The streaming capacity curve at CAPACITY_RATES: table and plot
	$(BIN)/python -m bench --only streaming --stream-rates $(CAPACITY_RATES)
	$(BIN)/python -m bench.capacity

# The soak's length (minutes) and rate (events/s).
SOAK_MINUTES ?= 30
SOAK_RATE ?= 100000
soak: jars services ## streaming_kafka_pg for SOAK_MINUTES at SOAK_RATE: per-minute table, slopes, plot
	$(BIN)/python -m bench.soak --minutes $(SOAK_MINUTES) --rate $(SOAK_RATE)

# The events of the batch scale curve.
SCALE_EVENTS ?= 1000000,10000000,30000000
bench-scale: jars services ## batch_simple and batch_complex at SCALE_EVENTS, each size in its own process
	$(BIN)/python -m bench.scale --events $(SCALE_EVENTS)

lint: $(STAMP) ## ruff, mypy and the import-linter contracts, of the framework and of the example
	$(BIN)/ruff check src tests bench jvm setup.py
	$(BIN)/ruff format --check src tests bench jvm setup.py
	$(BIN)/mypy
	$(BIN)/lint-imports
	cd $(EXAMPLE) && $(BIN)/ruff check src tests scripts && $(BIN)/ruff format --check src tests scripts
	cd $(EXAMPLE) && $(BIN)/lint-imports

test: jars services airflow ## Lint, then every test against the real servers, with coverage of src/ >= 85%
	$(MAKE) lint
	rm -f .coverage
	$(BIN)/pytest --cov=spark_etl --cov-report= $(PYTEST_ARGS)
	cd $(EXAMPLE) && $(BIN)/pytest --cov=spark_etl --cov-config=../pyproject.toml --cov-append --cov-report=
	$(BIN)/coverage report
	$(BIN)/coverage xml -q

clean: ## Remove caches and build output (keeps .venv, jars and server data)
	rm -rf build dist $(EXAMPLE)/dist .pytest_cache .mypy_cache .ruff_cache .coverage coverage.xml htmlcov

.PHONY: help venv jars services spark services-down demo run airflow wheel package bench bench-capacity soak bench-scale lint test clean
