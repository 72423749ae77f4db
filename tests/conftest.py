"""Suite-wide fixtures: one local SparkSession, and the endpoints of the local stack."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from pyspark.sql import SparkSession

from spark_etl.runtime.env import load_services_env
from spark_etl.runtime.spark import get_spark

TEST_SPARK_CONF = {
    "spark.master": "local[2]",
    "spark.app.name": "spark-etl-tests",
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.driver.memory": "2g",
    "spark.sql.session.timeZone": "UTC",
}


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    """One SparkSession for the whole suite, with the connector jars on its classpath."""
    session = get_spark(TEST_SPARK_CONF)
    yield session
    session.stop()


@pytest.fixture(scope="session")
def services() -> dict[str, str]:
    """The endpoints written by ``scripts/services.sh up`` (``make test`` starts the servers)."""
    if not load_services_env():
        pytest.fail("The local stack is not up: run `make services` (or `make test`).")
    return {k: v for k, v in os.environ.items() if k.startswith("SPARK_ETL_")}


@pytest.fixture
def unique_name() -> str:
    """A table/topic/prefix name no other test uses."""
    return f"t_{uuid.uuid4().hex[:10]}"
