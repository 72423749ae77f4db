"""Suite-wide fixtures: one local SparkSession, and the endpoints of the local stack."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest
import yaml
from bench.data import pg_connect
from pyspark.sql import SparkSession

from spark_etl.runtime.env import load_services_env
from spark_etl.runtime.spark import get_spark

CHECKPOINT_MANAGER = "spark.sql.streaming.checkpointFileManagerClass"
PROJECT_SPARK_CONF = yaml.safe_load(
    (Path(__file__).resolve().parents[1] / "conf" / "base" / "spark.yml").read_text()
)
TEST_SPARK_CONF = {
    # streams checkpoint as the project's runs do
    CHECKPOINT_MANAGER: PROJECT_SPARK_CONF[CHECKPOINT_MANAGER],
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


@pytest.fixture
def pg(services: dict[str, str]) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit psycopg connection to the local PostgreSQL, for setup and read-back."""
    with pg_connect(services) as conn:
        yield conn


@pytest.fixture
def mysql(services: dict[str, str]) -> Iterator[pymysql.connections.Connection]:
    """An autocommit PyMySQL connection to the local MariaDB."""
    conn = pymysql.connect(
        host=services["SPARK_ETL_MYSQL_HOST"],
        port=int(services["SPARK_ETL_MYSQL_PORT"]),
        database=services["SPARK_ETL_MYSQL_DB"],
        user=services["SPARK_ETL_MYSQL_USER"],
        password=services["SPARK_ETL_MYSQL_PASSWORD"],
        autocommit=True,
    )
    yield conn
    conn.close()


@pytest.fixture
def pg_credentials(services: dict[str, str]) -> dict[str, str]:
    """Catalog-style credentials of the PostgreSQL test user."""
    return {"user": services["SPARK_ETL_PG_USER"], "password": services["SPARK_ETL_PG_PASSWORD"]}


@pytest.fixture
def mysql_credentials(services: dict[str, str]) -> dict[str, str]:
    """Catalog-style credentials of the MariaDB test user."""
    return {
        "user": services["SPARK_ETL_MYSQL_USER"],
        "password": services["SPARK_ETL_MYSQL_PASSWORD"],
    }


@pytest.fixture
def s3_credentials(services: dict[str, str]) -> dict[str, Any]:
    """Catalog-style credentials of the local S3 server."""
    return {
        "access_key": services["SPARK_ETL_S3_ACCESS_KEY"],
        "secret_key": services["SPARK_ETL_S3_SECRET_KEY"],
        "endpoint": services["SPARK_ETL_S3_ENDPOINT"],
        "region": services.get("SPARK_ETL_S3_REGION", "us-east-1"),
        "path_style_access": True,
    }
