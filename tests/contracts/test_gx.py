"""A Great Expectations suite (JSON in conf/) through Kedro's catalog validation, on Spark."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kedro.io import DataCatalog
from kedro.validation.exceptions import DataValidationError
from pyspark.sql import SparkSession

from spark_etl.contracts.gx import ExpectationSuiteValidator

ROOT = Path(__file__).resolve().parents[2] / "example"
SUITE = ROOT / "conf" / "base" / "expectations" / "enriched_transactions.json"
DDL = "transaction_id string, amount double, currency string"


def catalog(suite: Path) -> DataCatalog:
    return DataCatalog.from_config(
        {
            "txns": {
                "type": "kedro.io.MemoryDataset",
                "copy_mode": "assign",
                "validator": {
                    "class": "spark_etl.contracts.gx.ExpectationSuiteValidator",
                    "on": ["save"],
                    "options": {"suite": str(suite), "dataset": "txns"},
                },
            }
        }
    )


def test_project_suite_passes_good_data(spark: SparkSession) -> None:
    cat = catalog(SUITE)
    cat.save("txns", spark.createDataFrame([("t1", 1.0, "EUR"), ("t2", 2.5, "USD")], DDL))
    assert cat.load("txns").count() == 2


def test_failed_expectations_halt_with_counts(spark: SparkSession) -> None:
    bad = spark.createDataFrame([("t1", -1.0, "EUR"), ("t1", 2.0, "XXX"), (None, 3.0, "USD")], DDL)
    with pytest.raises(DataValidationError) as info:
        catalog(SUITE).save("txns", bad)
    failed = {(f.check, f.column): f.failure_count for f in info.value.failures}
    assert failed == {
        ("expect_column_values_to_not_be_null", "transaction_id"): 1,
        ("expect_column_values_to_be_unique", "transaction_id"): 2,
        ("expect_column_values_to_be_between", "amount"): 1,
        ("expect_column_values_to_be_in_set", "currency"): 1,
    }
    assert "failed 4 expectation(s) of suite" in info.value.message


def test_unreadable_and_invalid_suites_are_named(tmp_path: Path) -> None:
    with pytest.raises(DataValidationError, match=r"cannot be read"):
        ExpectationSuiteValidator(str(tmp_path / "missing.json"), dataset="txns")
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"name": "x", "expectations": [{"type": "expect_nothing"}]}))
    with pytest.raises(DataValidationError, match=r"is not a valid GX suite"):
        ExpectationSuiteValidator(str(broken), dataset="txns")
