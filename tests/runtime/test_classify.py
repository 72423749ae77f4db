"""Error classification with the real exceptions Spark, the JDBC drivers and Kafka raise."""

from __future__ import annotations

import pytest
from kedro.io import DatasetError
from kedro.validation.exceptions import DataValidationError
from pyspark.sql import SparkSession

from spark_etl.contracts import ContractViolationError
from spark_etl.exceptions import AuthenticationError, ConfigError, SourceUnavailableError
from spark_etl.runtime.classify import causes, classify, is_transient


def real_error(action: object) -> BaseException:
    try:
        action()  # type: ignore[operator]
    except Exception as exc:  # the exception under test, whatever its type
        return exc
    raise AssertionError("expected the action to fail")


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (SourceUnavailableError("down"), "transient"),
        (AuthenticationError("no"), "terminal"),
        (ConfigError("bad"), "terminal"),
        (ContractViolationError("bad", {}), "terminal"),
        (DataValidationError("bad"), "terminal"),
        (ValueError("a bug"), "terminal"),
    ],
)
def test_own_and_kedro_errors(error: BaseException, kind: str) -> None:
    assert classify(error) == kind


def test_kedro_wrappers_are_looked_through() -> None:
    try:
        try:
            raise SourceUnavailableError("PostgreSQL at x is not reachable")
        except SourceUnavailableError as inner:
            raise DatasetError("Failed while loading data from dataset") from inner
    except DatasetError as outer:
        assert is_transient(outer)
        assert [type(e).__name__ for e in causes(outer)] == [
            "DatasetError",
            "SourceUnavailableError",
        ]


@pytest.mark.integration
def test_jdbc_connection_refused_is_transient(spark: SparkSession) -> None:
    exc = real_error(
        lambda: spark.read.jdbc(
            "jdbc:postgresql://127.0.0.1:1/x",
            "t",
            properties={"user": "u", "password": "p", "driver": "org.postgresql.Driver"},
        )
    )
    assert classify(exc) == "transient"


def test_missing_driver_is_terminal(spark: SparkSession) -> None:
    exc = real_error(
        lambda: spark.read.jdbc(
            "jdbc:nosuchdb://127.0.0.1:1/x", "t", properties={"user": "u", "password": "p"}
        )
    )
    assert classify(exc) == "terminal"  # SQLState 08001, but retrying cannot load a driver


@pytest.mark.integration
def test_jdbc_wrong_password_is_terminal(spark: SparkSession, services: dict[str, str]) -> None:
    exc = real_error(
        lambda: spark.read.jdbc(
            services["SPARK_ETL_PG_URL"],
            "pg_class",
            properties={"user": "spark_etl", "password": "nope", "driver": "org.postgresql.Driver"},
        )
    )
    assert classify(exc) == "terminal"  # SQLState 28P01


@pytest.mark.integration
def test_mysql_server_gone_is_transient(spark: SparkSession) -> None:
    exc = real_error(
        lambda: spark.read.jdbc(
            "jdbc:mysql://127.0.0.1:1/x",
            "t",
            properties={"user": "u", "password": "p", "driver": "com.mysql.cj.jdbc.Driver"},
        )
    )
    assert classify(exc) == "transient"  # Connector/J: CommunicationsException, SQLState 08S01


@pytest.mark.integration
def test_constraint_violation_is_terminal(
    spark: SparkSession, services: dict[str, str], pg: object, unique_name: str
) -> None:
    pg.execute(f"CREATE TABLE {unique_name} (id int PRIMARY KEY)")  # type: ignore[attr-defined]
    props = {
        "user": services["SPARK_ETL_PG_USER"],
        "password": services["SPARK_ETL_PG_PASSWORD"],
        "driver": "org.postgresql.Driver",
    }
    exc = real_error(
        lambda: (
            spark.createDataFrame([(1,), (1,)], "id int")
            .coalesce(1)
            .write.jdbc(services["SPARK_ETL_PG_URL"], unique_name, "append", props)
        )
    )
    assert classify(exc) == "terminal"  # SQLState 23505


@pytest.mark.integration
def test_kafka_broker_down_is_transient(spark: SparkSession) -> None:
    exc = real_error(
        lambda: (
            spark.read.format("kafka")
            .option("kafka.bootstrap.servers", "127.0.0.1:1")
            .option("subscribe", "t")
            .option("kafka.default.api.timeout.ms", "2000")
            .option("kafka.request.timeout.ms", "1000")
            .option("fetchOffset.numRetries", "1")
            .load()
            .count()
        )
    )
    assert classify(exc) == "transient"


@pytest.mark.integration
def test_missing_file_is_terminal(spark: SparkSession, tmp_path: object) -> None:
    exc = real_error(lambda: spark.read.format("avro").load(f"{tmp_path}/nothing-here"))
    assert classify(exc) == "terminal"
