"""The contract hook on a real Kedro catalog: names checked at start-up, data on load and save."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from kedro.io import DataCatalog, MemoryDataset
from pyspark.sql import SparkSession

from spark_etl.contracts import ContractViolationError, UnknownSchemaError
from spark_etl.runtime.contract_hooks import ContractHooks

ROOT = Path(__file__).resolve().parents[2]
DDL = (
    "event_id string, user_id string, event_type string, timestamp timestamp, "
    "properties map<string,string>, amount double"
)
T0 = datetime(2026, 1, 1)


def hooks_for(catalog: DataCatalog) -> ContractHooks:
    hooks = ContractHooks()
    hooks.after_context_created(SimpleNamespace(project_path=ROOT))  # type: ignore[arg-type]
    hooks.after_catalog_created(catalog)
    hooks.before_pipeline_run({"pipeline_names": ["batch_s3_pg"]})
    return hooks


def test_unknown_schema_in_catalog_fails_at_start_naming_the_dataset() -> None:
    catalog = DataCatalog({"events": MemoryDataset(metadata={"schema": "user_evnt"})})
    with pytest.raises(
        UnknownSchemaError,
        match=r"Dataset 'events': Schema 'user_evnt' .* "
        r"Did you mean 'user_event'",
    ):
        hooks_for(catalog)


def test_bad_data_is_stopped_before_save_and_good_data_checked_once(
    spark: SparkSession, monkeypatch: Any
) -> None:
    catalog = DataCatalog(
        {"events": MemoryDataset(metadata={"schema": "user_event"}), "free": MemoryDataset()}
    )
    hooks = hooks_for(catalog)
    bad = spark.createDataFrame([("e1", "u1", "teleport", T0, None, None)], DDL)
    with pytest.raises(ContractViolationError, match="pipeline 'batch_s3_pg'"):
        hooks.before_dataset_saved("events", bad, node=None)  # type: ignore[arg-type]
    hooks.before_dataset_saved("free", bad, node=None)  # type: ignore[arg-type]  # no schema

    good = spark.createDataFrame([("e1", "u1", "click", T0, None, None)], DDL)
    hooks.before_dataset_saved("events", good, node=None)  # type: ignore[arg-type]
    calls: list[str] = []
    monkeypatch.setattr(
        "spark_etl.runtime.contract_hooks.validate", lambda *a, **k: calls.append(a[2])
    )
    hooks.after_dataset_loaded("events", good, node=None)  # type: ignore[arg-type]
    assert calls == []  # checked when saved in this run: not checked again


def test_loaded_data_is_checked(spark: SparkSession) -> None:
    catalog = DataCatalog({"events": MemoryDataset(metadata={"schema": "user_event"})})
    hooks = hooks_for(catalog)
    bad = spark.createDataFrame([("e1", None, "click", T0, None, None)], DDL)
    with pytest.raises(ContractViolationError, match="'user_id' is not nullable"):
        hooks.after_dataset_loaded("events", bad, node=None)  # type: ignore[arg-type]


def test_values_can_be_left_to_structure_checks(spark: SparkSession) -> None:
    catalog = DataCatalog(
        {"events": MemoryDataset(metadata={"schema": "user_event", "check_values": False})}
    )
    hooks = hooks_for(catalog)
    hooks.after_dataset_loaded(
        "events", spark.createDataFrame([("e1", None, "x", T0, None, None)], DDL), node=None
    )  # type: ignore[arg-type]
