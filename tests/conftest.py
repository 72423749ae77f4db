"""Suite-wide fixtures: one local SparkSession, the local stack's servers, the example's contracts.

The framework's tests share the example project's local stack (``make services`` starts it from
``example/``) and read its schemas: the example is the framework's first user.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest
import yaml
from kedro.framework.project import LOGGING
from kedro_run import Env
from pyspark.sql import SparkSession
from spark_etl_example.sample_data import connect_postgres

from spark_etl.contracts import use_registry
from spark_etl.runtime.spark import get_spark
from spark_etl.stack import read_local_stack

EXAMPLE = Path(__file__).resolve().parents[1] / "example"
TEST_BUCKET = "spark-etl-test"
CHECKPOINT_MANAGER = "spark.sql.streaming.checkpointFileManagerClass"
PROJECT_SPARK_CONF = yaml.safe_load((EXAMPLE / "conf" / "base" / "spark.yml").read_text())
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


@pytest.fixture(scope="session", autouse=True)
def example_logging() -> None:
    """The example's conf/logging.yml, as `kedro run` in its folder has it. Kedro picks the file
    in the working folder when it is first imported, and the suite runs from the repository;
    applied once, before any test adds a handler (Kedro's dictConfig drops those of the
    configured loggers' children)."""
    LOGGING.configure(yaml.safe_load((EXAMPLE / "conf" / "logging.yml").read_text()))
    LOGGING.set_project_logging("spark_etl_example")


#: JVM options of the drivers the tests start in processes of their own (``kedro run``,
#: ``spark-submit``, a new project's runs): their runs are short, and on a small machine the
#: optimising compiler's threads cost them more time than its code saves. Spark's launcher
#: passes ``SPARK_SUBMIT_OPTS`` to the driver's JVM; it changes no result.
SHORT_RUN_JVM_OPTIONS = "-XX:TieredStopAtLevel=1"


@pytest.fixture(scope="session", autouse=True)
def short_run_jvms() -> Iterator[None]:
    """:data:`SHORT_RUN_JVM_OPTIONS` for every driver started from here on, but the suite's own
    long-lived session (:func:`spark` builds it without them)."""
    before = os.environ.get("SPARK_SUBMIT_OPTS")
    os.environ["SPARK_SUBMIT_OPTS"] = f"{before or ''} {SHORT_RUN_JVM_OPTIONS}".strip()
    yield
    if before is None:
        os.environ.pop("SPARK_SUBMIT_OPTS", None)
    else:
        os.environ["SPARK_SUBMIT_OPTS"] = before


@pytest.fixture(scope="session", autouse=True)
def example_contracts() -> None:
    """Datasets look their contracts up in the example project's ``schemas/``."""
    use_registry(EXAMPLE / "schemas")


@pytest.fixture
def conf_env() -> Iterator[Env]:
    """A Kedro environment of the example project of this test's own (``conf/test_<id>/``),
    removed afterwards: ``.write()`` files into it, ``.run()`` runs ``kedro run`` with it."""
    env = Env(f"test_{uuid.uuid4().hex[:8]}")
    env.path.mkdir()
    try:
        yield env
    finally:
        shutil.rmtree(env.path, ignore_errors=True)


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    """One SparkSession for the whole suite, with the connector jars on its classpath."""
    short_runs = os.environ.pop("SPARK_SUBMIT_OPTS", None)
    try:
        session = get_spark(TEST_SPARK_CONF)
    finally:
        if short_runs is not None:
            os.environ["SPARK_SUBMIT_OPTS"] = short_runs
    yield session
    session.stop()


@pytest.fixture(scope="session")
def services() -> dict[str, str]:
    """The local stack's endpoints and the servers' secrets (from the example's vault), under the
    names of ``.local/services.env``; also put into the environment, as ``kedro run`` would."""
    found = read_local_stack(EXAMPLE)
    if not found:
        pytest.fail("The local stack is not up: run `make services` (or `make test`).")
    for name, value in found.items():
        if not name.endswith(("_PASSWORD", "_SECRET_KEY", "_ACCESS_KEY")):
            os.environ.setdefault(name, value)
    _ensure_bucket(found, TEST_BUCKET)
    return found


def _ensure_bucket(services: dict[str, str], bucket: str) -> None:
    """The bucket of the datasets' own tests (the example's stack makes only the example's)."""
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=services["SPARK_ETL_S3_ENDPOINT"],
        aws_access_key_id=services["SPARK_ETL_S3_ACCESS_KEY"],
        aws_secret_access_key=services["SPARK_ETL_S3_SECRET_KEY"],
        region_name="us-east-1",
    )
    if bucket not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        s3.create_bucket(Bucket=bucket)


@pytest.fixture
def unique_name() -> str:
    """A table/topic/prefix name no other test uses."""
    return f"t_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def pg(services: dict[str, str]) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit psycopg connection to the local PostgreSQL, for setup and read-back."""
    with connect_postgres(services) as conn:
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
