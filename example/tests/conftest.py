"""Fixtures of the project's tests: one local SparkSession, and the servers of the local stack."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pyspark.sql import SparkSession
from spark_etl.runtime.spark import get_spark
from spark_etl.stack import read_local_stack

from spark_etl_example.sample_data import connect_postgres

PROJECT = Path(__file__).resolve().parents[1]
TEST_SPARK_CONF = {
    "spark.master": "local[2]",
    "spark.app.name": "spark-etl-example-tests",
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.sql.session.timeZone": "UTC",
}


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    """One SparkSession for the whole suite, with spark-etl's connector jars (``make jars``)."""
    session = get_spark(TEST_SPARK_CONF)
    yield session
    session.stop()


@pytest.fixture(scope="session")
def stack() -> dict[str, str]:
    """The local servers' endpoints and secrets (``make services`` starts them)."""
    found = read_local_stack(PROJECT)
    if not found:
        pytest.fail("The local stack is not up: run `make services` (or `make test`).")
    return found


@pytest.fixture
def pg(stack: dict[str, str]) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection to the local PostgreSQL, to read back what a run wrote."""
    with connect_postgres(stack) as conn:
        yield conn
