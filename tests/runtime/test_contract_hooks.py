"""The contract hook on a real Kedro catalog: names checked at start-up, data on load and save."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from kedro.io import AbstractDataset, DataCatalog, DatasetError, MemoryDataset
from kedro.validation.exceptions import DataValidationError
from pyspark.sql import DataFrame, SparkSession

from spark_etl.contracts import ContractViolationError, SchemaFileError, UnknownSchemaError
from spark_etl.datasets import S3Dataset
from spark_etl.runtime.contract_hooks import ContractHooks

ROOT = Path(__file__).resolve().parents[2] / "example"
DDL = (
    "event_id string, user_id string, event_type string, timestamp timestamp, "
    "properties map<string,string>, amount double"
)
T0 = datetime(2026, 1, 1)


class ParquetFolder(AbstractDataset[DataFrame, DataFrame]):
    """A sink that is not a spark-etl dataset (like kedro-datasets' SparkDataset)."""

    def __init__(self, path: str) -> None:
        self._path = path

    def load(self) -> DataFrame:
        raise NotImplementedError

    def save(self, data: DataFrame) -> None:
        data.write.parquet(self._path)

    def _describe(self) -> dict[str, Any]:
        return {"path": self._path}


def hooks_for(catalog: DataCatalog) -> ContractHooks:
    hooks = ContractHooks()
    context = SimpleNamespace(project_path=ROOT, config_loader={"runtime": {}})
    hooks.after_context_created(context)  # type: ignore[arg-type]
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


def test_spark_etl_datasets_are_checked_inside_the_write(
    spark: SparkSession, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    src, out = str(tmp_path / "src"), str(tmp_path / "out")
    S3Dataset(path=src).save(
        spark.createDataFrame(
            [("e1", "u1", "click", T0, None, 1.0), ("e2", None, "click", T0, None, 2.0)], DDL
        )
    )
    catalog = DataCatalog(
        {
            "events": S3Dataset(path=src, metadata={"schema": "user_event"}),
            "copy": S3Dataset(path=out),
        }
    )
    hooks_for(catalog)
    with caplog.at_level(logging.INFO, logger="spark_etl.runtime.contract_hooks"):
        loaded = catalog.load("events")  # structure checked; values guarded, nothing run yet
    (event,) = [r for r in caplog.records if getattr(r, "event", "") == "contract_check"]
    assert event.values == "in_job"  # type: ignore[attr-defined]

    with pytest.raises(DatasetError, match="'user_id' is not nullable, but 1 row") as info:
        catalog.save("copy", loaded)  # the catalog wraps it; the runner raises it as itself
    assert isinstance(info.value.__cause__, ContractViolationError)
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.avro"))

    mistyped = S3Dataset(path=src, load_args={"schema": "event_id int"})
    catalog = DataCatalog({"events": mistyped})
    mistyped.metadata = {"schema": "user_event"}
    hooks_for(catalog)
    with pytest.raises(DatasetError, match="field 'event_id': expected string, got int") as info:
        catalog.load("events")  # a wrong structure is refused at once
    assert isinstance(info.value.__cause__, ContractViolationError)


def test_guarded_data_is_checked_before_a_sink_that_is_not_a_spark_etl_dataset(
    spark: SparkSession, tmp_path: Path
) -> None:
    src = str(tmp_path / "src")
    S3Dataset(path=src).save(
        spark.createDataFrame(
            [("e1", "u1", "click", T0, None, 1.0), ("e2", None, "click", T0, None, 2.0)], DDL
        ).repartition(2)
    )
    catalog = DataCatalog(
        {
            "events": S3Dataset(path=src, metadata={"schema": "user_event"}),
            "parquet": ParquetFolder(str(tmp_path / "out")),
            "memory": MemoryDataset(),
        }
    )
    hooks = hooks_for(catalog)
    loaded = catalog.load("events")
    hooks.before_dataset_saved("memory", loaded, node=None)  # type: ignore[arg-type]  # no pass
    # This sink writes task by task: the guard runs, in a pass of its own, before it starts.
    with pytest.raises(ContractViolationError, match="'user_id' is not nullable, but 1 row"):
        hooks.before_dataset_saved("parquet", loaded, node=None)  # type: ignore[arg-type]
    assert not (tmp_path / "out").exists()


def test_quality_rules_ride_in_the_write_unless_kedro_only_warns(
    spark: SparkSession, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def entry(name: str, **validator: Any) -> dict[str, Any]:
        rules = [{"rule": "not_null", "columns": ["id"]}]
        return {
            "type": "spark_etl.datasets.S3Dataset",
            "path": str(tmp_path / name),
            "validator": {
                "class": "spark_etl.contracts.quality.QualityRules",
                "on": ["save"],
                "options": {"dataset": name, "rules": rules},
                **validator,
            },
        }

    catalog = DataCatalog.from_config(
        {"strict": entry("strict"), "lenient": entry("lenient", severity="warn")}
    )
    hooks = hooks_for(catalog)
    bad = spark.createDataFrame([("a", 1), (None, 2)], "id string, n int").repartition(2)

    hooks.before_dataset_saved("strict", bad, node=None)  # type: ignore[arg-type]
    with pytest.raises(DatasetError, match=r"not_null\(id\): 1 of 2 rows") as info:
        catalog.save("strict", bad)  # the guard fails the write; the committer aborts it
    assert isinstance(info.value.__cause__, DataValidationError)
    assert not list((tmp_path / "strict").glob("*.avro"))

    good = spark.createDataFrame([("a", 1), ("b", 2)], "id string, n int")
    hooks.before_dataset_saved("strict", good, node=None)  # type: ignore[arg-type]
    catalog.save("strict", good)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="spark_etl.contracts.quality"):
        hooks.after_dataset_saved("strict")  # logs the rules that rode in the write
    events = [r for r in caplog.records if getattr(r, "event", "") == "quality_check"]
    (event,) = events
    assert (event.passed, event.detail) == (True, "0 of 2 rows")  # type: ignore[attr-defined]
    caplog.clear()

    # severity: warn means "log and save anyway": the rules must run before the write.
    hooks.before_dataset_saved("lenient", bad, node=None)  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING):
        catalog.save("lenient", bad)
    assert any("not_null(id): 1 of 2 rows" in r.getMessage() for r in caplog.records)
    assert catalog.load("lenient").count() == 2


def test_a_schemas_dir_that_is_no_path_is_named(tmp_path: Path) -> None:
    context = SimpleNamespace(project_path=tmp_path, config_loader={"runtime": {"schemas_dir": 5}})
    with pytest.raises(SchemaFileError, match=r"runtime.yml: schemas_dir must be a folder's path"):
        ContractHooks().after_context_created(context)  # type: ignore[arg-type]
