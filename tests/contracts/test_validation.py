"""Contract checks on real DataFrames: each kind of violation halts with the message users see."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from spark_etl.contracts import Contract, ContractViolationError, SchemaRegistry, conform, validate
from spark_etl.contracts.validation import SAMPLE_ROWS

ROOT = Path(__file__).resolve().parents[2] / "example"
T0 = datetime(2026, 1, 1, 12, 0)
EVENT_DDL = (
    "event_id string, user_id string, event_type string, timestamp timestamp, "
    "properties map<string,string>, amount double"
)


@pytest.fixture(scope="module")
def user_event() -> Contract:
    return SchemaRegistry(ROOT / "schemas").get("user_event")


def events(spark: SparkSession, rows: list[tuple[object, ...]], ddl: str = EVENT_DDL) -> DataFrame:
    return spark.createDataFrame(rows, ddl)


GOOD = [("e1", "u1", "click", T0, {"page": "/"}, None), ("e2", "u1", "purchase", T0, None, 9.5)]


def test_conforming_data_passes(spark: SparkSession, user_event: Contract) -> None:
    validate(events(spark, GOOD), user_event, "user_events")


def test_safe_widening_passes_and_conform_widens(spark: SparkSession, user_event: Contract) -> None:
    narrow = events(
        spark,
        [("e1", "u1", "click", T0, None, 3)],
        EVENT_DDL.replace("amount double", "amount int"),
    )
    validate(narrow, user_event, "user_events")
    widened = conform(
        narrow.select("amount", *[c for c in narrow.columns if c != "amount"]), user_event
    )
    assert widened.columns == user_event.spark_schema.fieldNames()
    assert widened.schema["amount"].dataType.simpleString() == "double"
    assert widened.first()["amount"] == 3.0


def test_missing_field_halts(spark: SparkSession, user_event: Contract) -> None:
    with pytest.raises(ContractViolationError) as info:
        validate(events(spark, GOOD).drop("user_id"), user_event, "user_events", pipeline="p")
    message = str(info.value)
    assert "Dataset 'user_events' in pipeline 'p' does not meet contract 'user_event'" in message
    assert "field 'user_id' is missing (expected string)" in message
    assert info.value.report["fields"] == [
        {"field": "user_id", "kind": "missing", "expected": "string", "actual": "-", "rows": 0}
    ]


def test_wrong_type_halts(spark: SparkSession, user_event: Contract) -> None:
    wrong = events(spark, GOOD).withColumn("amount", F.col("amount").cast("string"))
    with pytest.raises(ContractViolationError, match="field 'amount': expected double, got string"):
        validate(wrong, user_event, "user_events")


def test_narrowing_is_not_a_safe_widening(spark: SparkSession) -> None:
    summary = SchemaRegistry(ROOT / "schemas").get("user_summary")
    df = spark.createDataFrame(
        [("u", 1.5, 2.0, T0, {"a": 1}, T0)],
        "user_id string, total_events double, total_amount double, last_event_time timestamp, "
        "event_type_counts map<string,bigint>, updated_at timestamp",
    )
    with pytest.raises(ContractViolationError, match="'total_events': expected bigint, got double"):
        validate(df, summary, "user_summary")


def test_nested_value_type_is_checked(spark: SparkSession, user_event: Contract) -> None:
    df = events(spark, GOOD).withColumn("properties", F.create_map(F.lit("n"), F.lit(1)))
    with pytest.raises(
        ContractViolationError, match=r"field 'properties\{\}': expected string, got int"
    ):
        validate(df, user_event, "user_events")


def test_extra_field_is_reported_as_schema_evolution(
    spark: SparkSession, user_event: Contract
) -> None:
    df = events(spark, GOOD).withColumn("channel", F.lit("email"))
    with pytest.raises(ContractViolationError) as info:
        validate(df, user_event, "user_events")
    assert "field 'channel' (string) is not in the contract: schema evolution" in str(info.value)
    assert info.value.report["schema_evolution"] is True


def test_null_in_non_null_field_halts_with_records(
    spark: SparkSession, user_event: Contract, caplog: pytest.LogCaptureFixture
) -> None:
    rows = [*GOOD, ("e3", None, "click", T0, None, None), ("e4", None, "click", T0, None, None)]
    with caplog.at_level(logging.ERROR), pytest.raises(ContractViolationError) as info:
        validate(events(spark, rows), user_event, "user_events", pipeline="batch_s3_pg")
    message = str(info.value)
    assert "field 'user_id' is not nullable, but 2 row(s) hold null" in message
    assert "2 offending row(s); the first 2:" in message
    assert "'event_id': 'e3'" in message and "'event_id': 'e4'" in message
    assert "Nothing was written" in message
    event = next(r for r in caplog.records if getattr(r, "event", "") == "contract_violation")
    assert event.dataset == "user_events" and event.pipeline == "batch_s3_pg"  # type: ignore[attr-defined]
    assert event.offending_rows == 2  # type: ignore[attr-defined]
    assert event.schema == "user_event"  # type: ignore[attr-defined]


def test_value_outside_enum_halts(spark: SparkSession, user_event: Contract) -> None:
    rows = [*GOOD, ("e9", "u2", "teleport", T0, None, None)]
    with pytest.raises(ContractViolationError) as info:
        validate(events(spark, rows), user_event, "user_events")
    assert "field 'event_type': 1 row(s) hold a value outside the enum [page_view, click" in str(
        info.value
    )
    assert info.value.report["sample"][0]["event_type"] == "teleport"


def test_sample_is_capped_truncated_and_masks_secrets(spark: SparkSession) -> None:
    contract = SchemaRegistry(ROOT / "schemas").get("dead_letter")
    rows = [(None, "x" * 500, "load", "p", None, None, T0, "hunter2") for _ in range(25)]
    df = spark.createDataFrame(
        rows,
        "payload binary, error string, stage string, pipeline string, dataset string, "
        "run_id string, failed_at timestamp, api_token string",
    ).drop("api_token")
    df = df.withColumn("error", F.lit("y" * 500))
    with pytest.raises(ContractViolationError) as info:
        validate(df, contract, "dlq")
    report = info.value.report
    assert report["offending_rows"] == 25
    assert len(report["sample"]) == SAMPLE_ROWS
    assert report["sample"][0]["error"] == "y" * 64 + "..."


def test_secret_like_fields_are_masked_in_samples(
    spark: SparkSession, user_event: Contract
) -> None:
    df = events(spark, [("e1", None, "click", T0, {"password": "hunter2"}, None)])
    with pytest.raises(ContractViolationError) as info:
        validate(df, user_event, "user_events")
    assert "hunter2" not in str(info.value)
    assert info.value.report["sample"][0]["properties"] == {"password": "***"}


def test_structure_only_skips_the_value_pass(spark: SparkSession, user_event: Contract) -> None:
    rows = [("e3", None, "teleport", T0, None, None)]
    validate(events(spark, rows), user_event, "user_events", check_values=False)


def test_streaming_frames_get_structure_checks(
    spark: SparkSession, user_event: Contract, tmp_path: Path
) -> None:
    events(spark, GOOD).write.json(str(tmp_path / "in"))
    stream = spark.readStream.schema(EVENT_DDL).json(str(tmp_path / "in"))
    validate(stream, user_event, "user_events")  # no action on a streaming frame
    with pytest.raises(ContractViolationError, match="field 'event_id' is missing"):
        validate(stream.drop("event_id"), user_event, "user_events")


def test_conform_keeps_rows(spark: SparkSession, user_event: Contract) -> None:
    df = events(spark, GOOD)
    assertDataFrameEqual(conform(df, user_event), df)
