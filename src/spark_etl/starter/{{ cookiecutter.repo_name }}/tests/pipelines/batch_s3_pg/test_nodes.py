"""The nodes of ``batch_s3_pg`` on a local SparkSession, with the pipeline's own parameters."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from pyspark.sql import DataFrame, SparkSession

from {{ cookiecutter.python_package }}.pipelines.batch_s3_pg.nodes import (
    parse_user_events,
    summarise_users,
)
from {{ cookiecutter.python_package }}.sample_data import (
    UserEvent,
    expected_user_summary,
    user_events,
)

PROJECT = Path(__file__).resolve().parents[3]
PARAMS = yaml.safe_load((PROJECT / "conf/base/parameters_batch_s3_pg.yml").read_text())
RAW_SCHEMA = (
    "event_id STRING, user_id STRING, event_type STRING, timestamp TIMESTAMP, "
    "properties STRING, amount DOUBLE"
)


def raw_frame(spark: SparkSession, count: int, users: int) -> tuple[DataFrame, list[UserEvent]]:
    """Raw events as the CSV source gives them (properties as JSON text)."""
    events = list(user_events(count, users=users, seed=11))
    rows = [
        (e.event_id, e.user_id, e.event_type, e.timestamp, json.dumps(e.properties), e.amount)
        for e in events
    ]
    return spark.createDataFrame(rows, RAW_SCHEMA), events


def test_parse_user_events_makes_properties_a_map(spark: SparkSession) -> None:
    raw, events = raw_frame(spark, 10, users=3)
    parsed = parse_user_events(raw, PARAMS["batch_s3_pg"]["extract"])
    assert dict(parsed.schema["properties"].dataType.jsonValue()) == {
        "type": "map",
        "keyType": "string",
        "valueType": "string",
        "valueContainsNull": True,
    }
    first = parsed.orderBy("event_id").first()
    assert first is not None and first["properties"] == events[0].properties


def test_summarise_users_gives_the_oracle_s_totals(spark: SparkSession) -> None:
    raw, events = raw_frame(spark, 500, users=12)
    params = PARAMS["batch_s3_pg"]
    summary = summarise_users(parse_user_events(raw, params["extract"]), params["summary"])
    assert summary.columns == params["summary"]["columns"]
    got = {r["user_id"]: r for r in summary.collect()}
    expected = expected_user_summary(events)
    assert set(got) == set(expected)
    for user_id, want in expected.items():
        row = got[user_id]
        assert row["total_events"] == want.total_events
        assert round(row["total_amount"], 2) == want.total_amount
        assert row["last_event_time"] == want.last_event_time.replace(tzinfo=None)
        assert row["event_type_counts"] == want.event_type_counts
