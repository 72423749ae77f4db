"""Checks inside the write job (guards): real Spark, real files, the sink read back."""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from kedro.io import DatasetError
from kedro.validation.exceptions import DataValidationError
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from spark_etl.contracts import ContractViolationError, default_registry, guarded, guards
from spark_etl.contracts.exceptions import GuardFiredError
from spark_etl.contracts.quality import QualityLedger, QualityRules
from spark_etl.datasets import JDBCDataset, S3Dataset
from spark_etl.runtime.classify import classify
from spark_etl.runtime.runner import _check_failure

DDL = (
    "event_id string, user_id string, event_type string, timestamp timestamp, "
    "properties map<string,string>, amount double"
)
T0 = datetime(2026, 1, 1)


def events(spark: SparkSession, *bad: tuple[Any, ...]) -> DataFrame:
    good = [(f"e{i}", f"u{i % 3}", "click", T0, None, float(i)) for i in range(50)]
    return spark.createDataFrame([*good, *bad], DDL)


def source(spark: SparkSession, tmp_path: Path, *bad: tuple[Any, ...]) -> DataFrame:
    """Avro files holding the rows, read back (the filter pushdown of a real file source)."""
    S3Dataset(path=str(tmp_path / "in")).save(events(spark, *bad))
    return S3Dataset(path=str(tmp_path / "in")).load()


def data_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.avro")) if folder.exists() else []


def test_a_violation_fails_the_write_and_nothing_is_committed(
    spark: SparkSession, tmp_path: Path
) -> None:
    loaded = source(spark, tmp_path, ("e98", None, "click", T0, None, 1.0))
    checked = guarded(loaded, default_registry().get("user_event"), "events", pipeline="p")
    out = tmp_path / "out"

    with pytest.raises(ContractViolationError) as info:
        S3Dataset(path=str(out), write_mode="append").save(checked)

    message = str(info.value)
    assert "Dataset 'events' in pipeline 'p' does not meet contract 'user_event'" in message
    assert "field 'user_id' is not nullable, but 1 row(s) hold null" in message
    assert "'event_id': 'e98'" in message
    assert info.value.report["offending_rows"] == 1
    assert data_files(out) == []


def test_every_row_is_checked_even_those_a_later_filter_drops(
    spark: SparkSession, tmp_path: Path
) -> None:
    loaded = source(spark, tmp_path, ("e99", "u1", "teleport", T0, None, 1.0))
    contract = default_registry().get("user_event")
    kept = F.col("event_type") == "click"  # pushed into the Avro reader, which skips the rest

    lenient = guarded(loaded, contract, "events").filter(kept)
    assert lenient.count() == 50  # the pushed filter hid the bad row from the guard

    strict = guarded(loaded, contract, "events", every_row=True).filter(kept)
    with pytest.raises(ContractViolationError, match=r"outside the enum") as info:
        S3Dataset(path=str(tmp_path / "out")).save(strict)
    assert info.value.report["sample"][0]["event_type"] == "teleport"
    assert data_files(tmp_path / "out") == []


def test_a_failed_overwrite_keeps_the_old_files(spark: SparkSession, tmp_path: Path) -> None:
    out = tmp_path / "out"
    S3Dataset(path=str(out)).save(events(spark))
    before = data_files(out)
    bad = guarded(
        events(spark, ("e97", "u1", "click", None, None, 1.0)),
        default_registry().get("user_event"),
        "events",
    )

    with pytest.raises(ContractViolationError, match="'timestamp' is not nullable"):
        S3Dataset(path=str(out)).save(bad)

    assert data_files(out) == before
    assert S3Dataset(path=str(out)).load().count() == 50


def test_overwrite_replaces_the_old_files_partitions_included(
    spark: SparkSession, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "out"
    first = spark.createDataFrame([(1, "a"), (2, "b")], "id int, part string")
    second = spark.createDataFrame([(3, "b"), (4, "c")], "id int, part string")
    dataset = S3Dataset(path=str(out), partition_by=["part"])
    dataset.save(first)
    old = data_files(out)

    with caplog.at_level(logging.INFO, logger="spark_etl.datasets.s3"):
        dataset.save(second)

    rows = sorted((r.id, r.part) for r in dataset.load().collect())
    assert rows == [(3, "b"), (4, "c")]
    assert not set(old) & set(data_files(out))
    (event,) = [r for r in caplog.records if getattr(r, "event", "") == "overwrite_cleanup"]
    assert event.files == len(old)  # type: ignore[attr-defined]
    assert (out / "_SUCCESS").exists()


def test_quality_rules_run_in_the_write_and_are_reported_after_it(
    spark: SparkSession, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ledger = QualityLedger({"scores"})  # the contract hook's: spark-etl sinks honour guards
    rules = QualityRules(
        [
            {"rule": "not_null", "columns": ["id"]},
            {"rule": "range", "column": "score", "min": 0, "severity": "warn"},
        ],
        dataset="scores",
    )
    data = spark.createDataFrame([("a", 1.0), ("b", -2.0), ("c", 3.0)], "id string, score double")
    ledger.expect_save("scores")  # the contract hook's mark: this validation is part of a save
    checked = rules.validate(data)
    assert guards.is_guarded(checked) and not guards.is_guarded(data)
    S3Dataset(path=str(tmp_path / "ok")).save(checked)

    with caplog.at_level(logging.INFO, logger="spark_etl.contracts.quality"):
        results = ledger.report("scores")

    assert [(r.rule, r.passed, r.failing) for r in results] == [
        ("not_null(id)", True, 0),
        ("range(score, 0.0..None)", False, 1),
    ]
    assert results[1].detail == "1 of 3 rows" and results[1].examples == [-2.0]
    assert sum(getattr(r, "event", "") == "quality_check" for r in caplog.records) == 2
    assert ledger.report("scores") == []  # reported once

    # Only fail rules: nothing is counted in the write; the rows are the sink's own count.
    strict = QualityRules([{"rule": "not_null", "columns": ["id"]}], dataset="scores")
    ledger.expect_save("scores")
    sink = S3Dataset(path=str(tmp_path / "strict"))
    sink.save(strict.validate(data))
    assert sink.last_save is not None
    (result,) = ledger.report("scores", sink.last_save.records)
    assert (result.passed, result.detail) == (True, "0 of 3 rows")

    bad = spark.createDataFrame([("a", 1.0), (None, 2.0)], "id string, score double")
    ledger.expect_save("scores")
    with pytest.raises(DataValidationError, match=r"not_null\(id\): 1 of 2 rows"):
        S3Dataset(path=str(tmp_path / "bad")).save(rules.validate(bad))
    assert data_files(tmp_path / "bad") == []

    # Without the mark (a load, kedro.validation's API) the rules run at once.
    with pytest.raises(DataValidationError, match=r"not_null\(id\): 1 of 2 rows"):
        rules.validate(bad)


def test_rules_of_a_sink_that_cannot_abort_run_before_the_save(spark: SparkSession) -> None:
    ledger = QualityLedger(set())  # e.g. a MemoryDataset or a kedro-datasets sink
    ledger.expect_save("other")  # ignored: the sink cannot abort its write
    rules = QualityRules([{"rule": "not_null", "columns": ["id"]}], dataset="other")
    bad = spark.createDataFrame([(None, 2.0)], "id string, score double")
    with pytest.raises(DataValidationError, match=r"not_null\(id\): 1 of 1 rows"):
        rules.validate(bad)


def test_a_save_mark_belongs_to_its_ledger_and_its_thread(spark: SparkSession) -> None:
    rules = QualityRules([{"rule": "not_null", "columns": ["id"]}], dataset="scores")
    bad = spark.createDataFrame([(None, 2.0)], "id string, score double")
    QualityLedger({"scores"}).expect_save("scores")  # a run that stopped before its save
    QualityLedger({"scores"}).expect_save("other")  # the next run's ledger is the one in use
    with pytest.raises(DataValidationError, match=r"not_null\(id\): 1 of 1 rows"):
        rules.validate(bad)  # no mark in this ledger: the rules ran at once

    ledger = QualityLedger({"scores"})
    ledger.expect_save("scores")
    outcome: list[BaseException | DataFrame] = []

    def other_thread() -> None:  # e.g. another node of a ThreadRunner
        try:
            outcome.append(rules.validate(bad))
        except DataValidationError as exc:
            outcome.append(exc)

    worker = threading.Thread(target=other_thread)
    worker.start()
    worker.join()
    assert isinstance(outcome[0], DataValidationError)  # the mark stayed with its thread
    assert guards.is_guarded(rules.validate(bad))  # and is used here, once
    assert ledger.take_save_mark("scores") is False


def test_a_guard_fired_in_a_node_job_is_terminal_and_explained(
    spark: SparkSession,
) -> None:
    checked = guarded(
        events(spark, ("e96", "u1", "click", T0, None, 1.0), ("e95", None, "click", T0, None, 2.0)),
        default_registry().get("user_event"),
        "events",
    )
    with pytest.raises(Exception) as info:
        checked.count()  # a node's own action, outside any dataset
    raw = info.value
    assert classify(raw) == "terminal"
    wrapped = DatasetError("events: failed")
    wrapped.__cause__ = raw
    failure = _check_failure(wrapped)
    assert isinstance(failure, ContractViolationError)
    assert "1 row(s) hold null" in str(failure)


def test_explanations_are_given_once_and_only_for_guards(spark: SparkSession) -> None:
    assert guards.explanation(ValueError("no guard here")) is None
    checked = guards.guard(
        spark.range(3), "dataset 'ids'", [F.col("id") == 2], lambda: ValueError("explained")
    )
    with pytest.raises(Exception) as info:
        checked.collect()
    guards._explainers.clear()  # as if more than _KEEP checks were set up since
    lost = guards.explanation(info.value)
    assert isinstance(lost, GuardFiredError)
    assert "A data check (dataset 'ids') failed, but its report is gone" in str(lost)


def test_a_source_that_changed_before_the_report_is_said_so(
    spark: SparkSession, pg: Any, pg_credentials: dict[str, str], unique_name: str
) -> None:
    pg.execute(f"CREATE TABLE {unique_name} (user_id text, n int)")
    pg.execute(f"INSERT INTO {unique_name} VALUES ('u1', 1), (NULL, 2)")
    table = JDBCDataset(
        url=f"jdbc:postgresql://{pg.info.host}:{pg.info.port}/{pg.info.dbname}",
        table=unique_name,
        credentials=pg_credentials,
    )
    rules = QualityRules([{"rule": "not_null", "columns": ["user_id"]}], dataset="users")
    QualityLedger({"users"}).expect_save("users")
    checked = rules.validate(table.load())
    with pytest.raises(Exception) as info:
        checked.count()  # the guard fires on the NULL
    pg.execute(f"UPDATE {unique_name} SET user_id = 'u2'")  # fixed before the report reads again

    explained = guards.explanation(info.value)

    assert isinstance(explained, GuardFiredError)
    assert "Dataset 'users' broke a quality rule while it was being written, but reading it " in (
        str(explained)
    )
    assert "the source changed in between. Nothing was written; run again." in str(explained)


def test_a_source_gone_before_the_report_is_said_so(spark: SparkSession, tmp_path: Path) -> None:
    loaded = source(spark, tmp_path, ("e97", None, "click", T0, None, 1.0))
    checked = guarded(loaded, default_registry().get("user_event"), "events")
    with pytest.raises(Exception) as info:
        checked.count()
    for part in data_files(tmp_path / "in"):
        part.unlink()  # the report's second read finds the files gone

    explained = guards.explanation(info.value)

    assert isinstance(explained, GuardFiredError)
    message = str(explained)
    assert "A data check (dataset 'events', contract 'user_event') failed, and reading" in message
    assert "FILE_NOT_EXIST" in message and "run again once the source is readable" in message
