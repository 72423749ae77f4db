"""The quality results hook on a real catalog: every rule's outcome of a run appended to a real
PostgreSQL table, a failed run's too; a store that cannot be written is told and fails nothing."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest
from kedro.io import DataCatalog
from kedro.validation.exceptions import DataValidationError
from pyspark.sql import SparkSession

from spark_etl.contracts.quality import QualityRules
from spark_etl.datasets import JDBCDataset
from spark_etl.exceptions import ConfigError
from spark_etl.runtime.quality_results import QualityResultHooks

pytestmark = pytest.mark.integration


def hooks_for(catalog: DataCatalog, runtime: dict[str, Any]) -> QualityResultHooks:
    loader = {"runtime": runtime}
    hooks = QualityResultHooks()
    hooks.after_context_created(SimpleNamespace(config_loader=loader))  # type: ignore[arg-type]
    hooks.after_catalog_created(catalog)
    hooks.before_pipeline_run({"pipeline_names": ["nightly"], "run_id": "run-1"})
    return hooks


def results_table(url: str, credentials: dict[str, str], table: str) -> JDBCDataset:
    return JDBCDataset(url=url, table=table, credentials=credentials, write_mode="append")


def test_every_rule_of_a_run_is_appended_with_the_run(
    spark: SparkSession,
    pg: psycopg.Connection[Any],
    pg_credentials: dict[str, str],
    services: dict[str, str],
    unique_name: str,
) -> None:
    table = f"qr_{unique_name}"
    catalog = DataCatalog(
        {"results": results_table(services["SPARK_ETL_PG_URL"], pg_credentials, table)}
    )
    hooks = hooks_for(catalog, {"quality_results": {"pipelines": {"nightly": "results"}}})
    data = spark.createDataFrame([(1, None), (2, 5.0), (2, -1.0)], "id long, amount double")
    rules = QualityRules(
        [
            {"rule": "unique", "columns": ["id"], "severity": "warn"},
            {"rule": "range", "column": "amount", "min": 0, "severity": "warn"},
            {"rule": "row_count", "min": 1, "severity": "fail"},
        ],
        dataset="orders",
    )
    rules.validate(data)
    hooks.after_pipeline_run()

    rows = pg.execute(
        f"SELECT run_id, pipeline, dataset, rule, column_name, severity, passed, failing, "
        f"examples FROM {table} ORDER BY rule"
    ).fetchall()
    assert [r[:8] for r in rows] == [
        ("run-1", "nightly", "orders", "range(amount, 0.0..None)", "amount", "warn", False, 1),
        ("run-1", "nightly", "orders", "row_count(1..None)", None, "fail", True, 0),
        ("run-1", "nightly", "orders", "unique(id)", None, "warn", False, 1),
    ]
    assert json.loads(rows[0][8]) == [-1.0]
    pg.execute(f"DROP TABLE {table}")


def test_a_failed_run_stores_the_rule_that_stopped_it(
    spark: SparkSession,
    pg: psycopg.Connection[Any],
    pg_credentials: dict[str, str],
    services: dict[str, str],
    unique_name: str,
) -> None:
    table = f"qr_{unique_name}"
    catalog = DataCatalog(
        {"results": results_table(services["SPARK_ETL_PG_URL"], pg_credentials, table)}
    )
    hooks = hooks_for(catalog, {"quality_results": {"default": "results"}})
    data = spark.createDataFrame([(1,), (1,)], "id long")
    with pytest.raises(DataValidationError):
        QualityRules([{"rule": "unique", "columns": ["id"]}], dataset="orders").validate(data)
    hooks.on_pipeline_error()
    assert pg.execute(f"SELECT rule, severity, passed, failing FROM {table}").fetchall() == [
        ("unique(id)", "fail", False, 1)
    ]
    pg.execute(f"DROP TABLE {table}")


def test_a_store_that_cannot_be_written_is_told_and_fails_nothing(
    spark: SparkSession, pg_credentials: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    closed = "jdbc:postgresql://127.0.0.1:9/nowhere?connectTimeout=2"
    catalog = DataCatalog({"results": results_table(closed, pg_credentials, "results")})
    hooks = hooks_for(catalog, {"quality_results": {"default": "results"}})
    data = spark.createDataFrame([(1,)], "id long")
    QualityRules([{"rule": "row_count", "min": 1}], dataset="orders").validate(data)
    with caplog.at_level(logging.INFO, logger="spark_etl"):
        hooks.after_pipeline_run()  # does not raise
    (told,) = [
        r for r in caplog.records if getattr(r, "event", None) == "quality_results_not_stored"
    ]
    assert told.levelno == logging.ERROR
    assert "1 quality result(s) could not be stored in results" in told.getMessage()


def test_a_pipeline_without_a_store_collects_nothing(spark: SparkSession) -> None:
    hooks = hooks_for(DataCatalog({}), {"quality_results": {"pipelines": {"other": "x"}}})
    assert hooks._collector is None
    hooks.after_pipeline_run()


def test_a_mistyped_setting_is_named() -> None:
    with pytest.raises(ConfigError, match=r"Invalid quality_results settings in runtime.yml: "):
        hooks_for(DataCatalog({}), {"quality_results": {"defualt": "results"}})
