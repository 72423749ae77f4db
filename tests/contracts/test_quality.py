"""Quality rules through Kedro's real catalog validation funnel, on real Spark DataFrames."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any

import pytest
from kedro.io import DataCatalog
from kedro.validation.exceptions import DataValidationError
from pyspark.sql import DataFrame, SparkSession

from spark_etl.contracts import deadletter, default_registry, validate
from spark_etl.contracts.quality import QualityRules, parse_rules

DDL = "id string, kind string, amount double, ts timestamp"
NOW = datetime.now()
ROWS = [
    ("a", "click", 1.0, NOW),
    ("b", "purchase", 20.0, NOW - timedelta(hours=1)),
    ("c", "bogus", -5.0, NOW - timedelta(days=2)),
    ("d", None, None, NOW - timedelta(days=3)),
]


def frame(spark: SparkSession, rows: list[tuple[Any, ...]] = ROWS) -> DataFrame:
    return spark.createDataFrame(rows, DDL)


def catalog_with(rules: list[dict[str, Any]], on: str = "save") -> DataCatalog:
    return DataCatalog.from_config(
        {
            "events": {
                "type": "kedro.io.MemoryDataset",
                "copy_mode": "assign",
                "validator": {
                    "class": "spark_etl.contracts.quality.QualityRules",
                    "on": [on],
                    "options": {"dataset": "events", "rules": rules},
                },
            }
        }
    )


def events(caplog: pytest.LogCaptureFixture) -> dict[str, logging.LogRecord]:
    return {r.rule: r for r in caplog.records if getattr(r, "event", "") == "quality_check"}  # type: ignore[attr-defined]


def test_passing_rules_log_one_event_each(
    spark: SparkSession, caplog: pytest.LogCaptureFixture
) -> None:
    rules = [
        {"rule": "not_null", "columns": ["id"]},
        {"rule": "unique", "columns": ["id"]},
        {"rule": "row_count", "min": 4, "max": 4},
        {"rule": "freshness", "column": "ts", "max_age": "1h"},
    ]
    catalog = catalog_with(rules)
    with caplog.at_level(logging.INFO):
        catalog.save("events", frame(spark))
    assert catalog.load("events").count() == 4
    logged = events(caplog)
    assert set(logged) == {"not_null(id)", "unique(id)", "row_count(4..4)", "freshness(ts, 1h)"}
    assert all(r.passed for r in logged.values())  # type: ignore[attr-defined]
    assert logged["unique(id)"].dataset == "events"  # type: ignore[attr-defined]


def test_fail_severity_halts_with_counts_and_examples(spark: SparkSession) -> None:
    catalog = catalog_with(
        [
            {
                "rule": "allowed_values",
                "column": "kind",
                "values": ["click", "purchase"],
                "severity": "fail",
            },
            {"rule": "range", "column": "amount", "min": 0, "severity": "fail"},
        ]
    )
    with pytest.raises(DataValidationError) as info:
        catalog.save("events", frame(spark))
    message = info.value.message
    assert "Dataset 'events' failed 2 quality rule(s) of severity 'fail'" in message
    assert "allowed_values(kind): 1 of 4 rows; e.g. ['bogus']" in message
    assert "range(amount, 0.0..None): 1 of 4 rows; e.g. [-5.0]" in message
    rendered = str(info.value)  # Kedro's own rendering of the failures
    assert "Validation failed for dataset 'events' on save" in rendered
    assert "kind: allowed_values(kind): 1 of 4 rows — 1 case (e.g. bogus)" in rendered
    assert [f.failure_count for f in info.value.failures] == [1, 1]
    assert "events" not in catalog or not catalog.exists("events")  # nothing was saved


def test_drop_severity_removes_rows_and_hands_them_to_the_sink(
    spark: SparkSession, caplog: pytest.LogCaptureFixture
) -> None:
    letters: list[DataFrame] = []
    deadletter.install(letters.append, pipeline="p1", run_id="r1")
    try:
        catalog = catalog_with(
            [
                {
                    "rule": "allowed_values",
                    "column": "kind",
                    "values": ["click", "purchase"],
                    "severity": "drop",
                },
                {"rule": "not_null", "columns": ["kind"], "severity": "drop"},
                {"rule": "null_rate", "column": "amount", "max": 0.1, "severity": "warn"},
            ]
        )
        with caplog.at_level(logging.INFO):
            catalog.save("events", frame(spark))
    finally:
        deadletter.uninstall()
    assert sorted(r.id for r in catalog.load("events").collect()) == ["a", "b"]
    (dropped,) = letters
    rows = sorted(dropped.collect(), key=lambda r: r.payload)
    assert [json.loads(r.payload)["id"] for r in rows] == ["c", "d"]
    assert {(r.error, r.stage, r.pipeline, r.dataset, r.run_id) for r in rows} == {
        ("quality: allowed_values(kind), not_null(kind)", "quality", "p1", "events", "r1")
    }
    contract = default_registry().get("dead_letter")
    validate(dropped, contract, "dead letters")  # shaped as schemas/dead_letter.avsc
    logged = events(caplog)
    assert logged["allowed_values(kind)"].failing == 1  # type: ignore[attr-defined]
    warn = logged["null_rate(amount <= 0.1)"]
    assert not warn.passed and warn.levelno == logging.WARNING  # type: ignore[attr-defined]


def test_not_null_over_several_columns_names_the_null_one(spark: SparkSession) -> None:
    catalog = catalog_with([{"rule": "not_null", "columns": ["id", "kind", "amount"]}])
    with pytest.raises(DataValidationError) as info:
        catalog.save("events", frame(spark))
    assert "not_null(id, kind, amount): 1 of 4 rows (null in kind: 1, amount: 1)" in (
        info.value.message
    )
    assert [f.column for f in info.value.failures] == ["kind"]  # not 'id', the first named


def test_dataset_rules_fail(spark: SparkSession) -> None:
    catalog = catalog_with(
        [
            {"rule": "unique", "columns": ["kind"], "severity": "fail"},
            {"rule": "row_count", "min": 10, "severity": "fail"},
            {"rule": "freshness", "column": "ts", "max_age": "30m", "severity": "fail"},
        ]
    )
    dupes = frame(spark, [*ROWS, ("e", "click", 1.0, NOW - timedelta(hours=5))])
    stale = dupes.filter("id = 'd'")
    with pytest.raises(DataValidationError) as info:
        catalog.save("events", stale.unionByName(dupes.filter("kind = 'click'")))
    message = info.value.message
    assert "unique(kind): 1 duplicate row(s) on ['kind']" in message
    assert "row_count(10..None): 3 rows" in message
    assert "freshness(ts, 30m): newest is 1:00:00 old" not in message  # the freshest is NOW
    assert "freshness" not in message


def test_freshness_fails_on_stale_data(spark: SparkSession) -> None:
    catalog = catalog_with([{"rule": "freshness", "column": "ts", "max_age": "1d"}])
    with pytest.raises(DataValidationError, match=r"freshness\(ts, 1d\): newest is 2 days"):
        catalog.save("events", frame(spark).filter("id = 'c'"))


def test_rules_apply_on_load_too(spark: SparkSession) -> None:
    catalog = catalog_with([{"rule": "not_null", "columns": ["amount"]}], on="load")
    catalog.save("events", frame(spark))
    with pytest.raises(DataValidationError, match=r"not_null\(amount\): 1 of 4 rows"):
        catalog.load("events")


@pytest.mark.parametrize(
    ("rules", "problem"),
    [
        ([{"rule": "not_nul", "columns": ["id"]}], r"rules\[0\]: Input tag 'not_nul'"),
        ([{"rule": "range", "column": "amount"}], "a range rule needs min, max or both"),
        (
            [{"rule": "unique", "columns": ["id"], "severity": "drop"}],
            "severity 'drop' needs a row rule; 'unique\\(id\\)'",
        ),
        ([{"rule": "null_rate", "column": "x", "max": 2}], r"rules\[0.null_rate.max\]"),
        ([{"rule": "freshness", "column": "ts", "max_age": "soon"}], "max_age"),
        ([{"rule": "not_null", "columns": ["id"], "colour": "red"}], "colour"),
    ],
)
def test_invalid_rules_are_named(rules: list[dict[str, Any]], problem: str) -> None:
    with pytest.raises(
        DataValidationError, match=r"Quality rules of dataset 'events' are invalid: .*" + problem
    ):
        parse_rules(rules, "events")


def test_unknown_column_is_named(spark: SparkSession) -> None:
    rules = QualityRules([{"rule": "not_null", "columns": ["user"]}], dataset="events")
    with pytest.raises(
        DataValidationError,
        match=r"not_null\(user\) of dataset 'events' names column\(s\) \['user'\]",
    ):
        rules.validate(frame(spark))


def test_streaming_frames_get_drop_rules_only(spark: SparkSession, tmp_path: Any) -> None:
    frame(spark).write.json(str(tmp_path / "in"))
    stream = spark.readStream.schema(DDL).json(str(tmp_path / "in"))
    rules = QualityRules(
        [
            {"rule": "range", "column": "amount", "min": 0, "severity": "drop"},
            {"rule": "row_count", "min": 100},
        ],
        dataset="events",
    )
    checked = rules.validate(stream)
    query = (
        checked.writeStream.format("memory")
        .queryName("quality_stream")
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination(60)
    assert sorted(r.id for r in spark.table("quality_stream").collect()) == ["a", "b", "d"]


def test_drops_without_a_sink_are_counted_in_the_log(
    spark: SparkSession, caplog: pytest.LogCaptureFixture
) -> None:
    rules = QualityRules(
        [{"rule": "range", "column": "amount", "min": 0, "severity": "drop"}], dataset="events"
    )
    with caplog.at_level(logging.WARNING):
        kept = rules.validate(frame(spark))
    assert kept.count() == 3
    (event,) = [r for r in caplog.records if getattr(r, "event", "") == "dead_letter"]
    assert event.records == 1 and event.stage == "quality"  # type: ignore[attr-defined]
