"""``batch_s3_pg`` end to end through Kedro, against the real S3 server and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro.validation.exceptions import DataValidationError
from pyspark.sql import SparkSession

from spark_etl.contracts import ContractViolationError
from spark_etl.datagen import expected_user_summary, user_events, user_events_csv

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EVENTS = 3_000
USERS = 40


@pytest.fixture
def raw_events(services: dict[str, str]) -> list[Any]:
    """Put a fresh deterministic sample where the catalog's raw_user_events reads."""
    events = list(user_events(EVENTS, users=USERS, seed=7))
    s3 = boto3.client(
        "s3",
        endpoint_url=services["SPARK_ETL_S3_ENDPOINT"],
        aws_access_key_id=services["SPARK_ETL_S3_ACCESS_KEY"],
        aws_secret_access_key=services["SPARK_ETL_S3_SECRET_KEY"],
        region_name="us-east-1",
    )
    listed = s3.list_objects_v2(Bucket="spark-etl-raw", Prefix="user_events/")
    for obj in listed.get("Contents", []):
        s3.delete_object(Bucket="spark-etl-raw", Key=obj["Key"])
    s3.put_object(
        Bucket="spark-etl-raw",
        Key="user_events/part-0000.csv",
        Body=user_events_csv(events).encode(),
    )
    return events


def run_pipeline() -> None:
    bootstrap_project(ROOT)
    with KedroSession.create(project_path=ROOT) as session:
        session.run(pipeline_names=["batch_s3_pg"])


def summary_rows(pg: Any) -> dict[str, tuple[Any, ...]]:
    cur = pg.execute(
        "SELECT user_id, total_events, total_amount, last_event_time, "
        "event_type_counts, updated_at FROM user_summary"
    )
    return {row[0]: row[1:] for row in cur.fetchall()}


def test_batch_s3_pg_exact_rows_and_idempotent_rerun(
    spark: SparkSession, pg: Any, raw_events: list[Any]
) -> None:
    pg.execute("DROP TABLE IF EXISTS user_summary")
    run_pipeline()
    first = summary_rows(pg)
    expected = expected_user_summary(raw_events)
    assert len(first) == len(expected) == USERS
    for user_id, want in expected.items():
        total_events, total_amount, last_event_time, counts, _ = first[user_id]
        assert total_events == want.total_events
        assert round(total_amount, 2) == want.total_amount
        assert last_event_time == want.last_event_time.replace(tzinfo=None)
        assert (json.loads(counts) if isinstance(counts, str) else counts) == want.event_type_counts

    run_pipeline()
    assert summary_rows(pg) == first  # same rows, updated_at included: the re-run is a no-op


def fresh_input(services: dict[str, str], csv_text: str) -> Any:
    """Empty the raw and lake prefixes, upload ``csv_text`` as the raw events; return the client."""
    s3 = boto3.client(
        "s3",
        endpoint_url=services["SPARK_ETL_S3_ENDPOINT"],
        aws_access_key_id=services["SPARK_ETL_S3_ACCESS_KEY"],
        aws_secret_access_key=services["SPARK_ETL_S3_SECRET_KEY"],
        region_name="us-east-1",
    )
    for bucket, prefix in (
        ("spark-etl-raw", "user_events/"),
        ("spark-etl-lake", "batch_s3_pg/user_events/"),
    ):
        for obj in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=obj["Key"])
    s3.put_object(Bucket="spark-etl-raw", Key="user_events/part-0000.csv", Body=csv_text.encode())
    return s3


def assert_nothing_written(s3: Any, pg: Any) -> None:
    lake = s3.list_objects_v2(Bucket="spark-etl-lake", Prefix="batch_s3_pg/user_events/")
    assert lake.get("KeyCount", 0) == 0
    assert pg.execute("SELECT to_regclass('user_summary')").fetchone() == (None,)


def test_contract_violation_halts_before_anything_is_written(
    spark: SparkSession, pg: Any, services: dict[str, str]
) -> None:
    csv_text = user_events_csv(list(user_events(200, users=5, seed=3)))
    s3 = fresh_input(services, csv_text.replace(",click,", ",teleport,", 1))
    pg.execute("DROP TABLE IF EXISTS user_summary")

    with pytest.raises(ContractViolationError) as info:
        run_pipeline()

    message = str(info.value)
    assert (
        "Dataset 'user_events' in pipeline 'batch_s3_pg' does not meet contract 'user_event'"
        in (message)
    )
    assert "'event_type': 1 row(s) hold a value outside the enum" in message
    assert "'event_type': 'teleport'" in message
    assert_nothing_written(s3, pg)


def test_quality_rule_halts_on_duplicate_events(
    spark: SparkSession, pg: Any, services: dict[str, str]
) -> None:
    lines = user_events_csv(list(user_events(100, users=5, seed=4))).splitlines()
    s3 = fresh_input(services, "\n".join([*lines, lines[1]]) + "\n")  # one event twice
    pg.execute("DROP TABLE IF EXISTS user_summary")

    with pytest.raises(DataValidationError) as info:
        run_pipeline()

    assert "unique(event_id): 1 duplicate row(s) on ['event_id']" in info.value.message
    assert_nothing_written(s3, pg)


def test_negative_amounts_are_dropped_not_loaded(
    spark: SparkSession, pg: Any, services: dict[str, str]
) -> None:
    events = list(user_events(300, users=5, seed=5))
    bad = next(e for e in events if e.amount is not None)
    csv_text = user_events_csv(events).replace(f",{bad.amount:.2f}\n", f",-{bad.amount:.2f}\n", 1)
    fresh_input(services, csv_text)
    pg.execute("DROP TABLE IF EXISTS user_summary")

    run_pipeline()

    kept = [e for e in events if e.event_id != bad.event_id]
    rows = summary_rows(pg)
    assert sum(r[0] for r in rows.values()) == len(kept) == len(events) - 1
    expected = expected_user_summary(kept)
    assert {u: (r[0], round(r[1], 2)) for u, r in rows.items()} == {
        u: (w.total_events, w.total_amount) for u, w in expected.items()
    }
