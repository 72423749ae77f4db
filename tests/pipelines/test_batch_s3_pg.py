"""``batch_s3_pg`` end to end through Kedro, against the real S3 server and PostgreSQL."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest
from kedro.validation.exceptions import DataValidationError
from kedro_run import json_events, local_stack, run_pipeline, s3_client
from pyspark.sql import SparkSession
from spark_etl_example.sample_data import (
    connect_postgres,
    expected_user_summary,
    user_events,
    user_events_csv,
)

from spark_etl.contracts import ContractViolationError

pytestmark = pytest.mark.integration

EVENTS = 3_000
USERS = 40


@pytest.fixture
def raw_events(services: dict[str, str]) -> list[Any]:
    """Put a fresh deterministic sample where the catalog's raw_user_events reads."""
    events = list(user_events(EVENTS, users=USERS, seed=7))
    s3 = s3_client(services)
    listed = s3.list_objects_v2(Bucket="spark-etl-example-raw", Prefix="user_events/")
    for obj in listed.get("Contents", []):
        s3.delete_object(Bucket="spark-etl-example-raw", Key=obj["Key"])
    s3.put_object(
        Bucket="spark-etl-example-raw",
        Key="user_events/part-0000.csv",
        Body=user_events_csv(events).encode(),
    )
    return events


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
    run_pipeline("batch_s3_pg")
    first = summary_rows(pg)
    expected = expected_user_summary(raw_events)
    assert len(first) == len(expected) == USERS
    for user_id, want in expected.items():
        total_events, total_amount, last_event_time, counts, _ = first[user_id]
        assert total_events == want.total_events
        assert round(total_amount, 2) == want.total_amount
        assert last_event_time == want.last_event_time.replace(tzinfo=None)
        assert (json.loads(counts) if isinstance(counts, str) else counts) == want.event_type_counts

    run_pipeline("batch_s3_pg")
    assert summary_rows(pg) == first  # same rows, updated_at included: the re-run is a no-op


def fresh_input(services: dict[str, str], csv_text: str) -> Any:
    """Empty the raw and lake prefixes, upload ``csv_text`` as the raw events; return the client."""
    s3 = s3_client(services)
    for bucket, prefix in (
        ("spark-etl-example-raw", "user_events/"),
        ("spark-etl-example-lake", "batch_s3_pg/user_events/"),
    ):
        for obj in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=obj["Key"])
    s3.put_object(
        Bucket="spark-etl-example-raw", Key="user_events/part-0000.csv", Body=csv_text.encode()
    )
    return s3


def assert_nothing_written(s3: Any, pg: Any) -> None:
    lake = s3.list_objects_v2(Bucket="spark-etl-example-lake", Prefix="batch_s3_pg/user_events/")
    assert lake.get("KeyCount", 0) == 0, [o["Key"] for o in lake.get("Contents", [])]
    assert pg.execute("SELECT to_regclass('user_summary')").fetchone() == (None,)


def test_contract_violation_halts_before_anything_is_written(
    spark: SparkSession, pg: Any, services: dict[str, str]
) -> None:
    csv_text = user_events_csv(list(user_events(200, users=5, seed=3)))
    s3 = fresh_input(services, csv_text.replace(",click,", ",teleport,", 1))
    pg.execute("DROP TABLE IF EXISTS user_summary")

    with pytest.raises(ContractViolationError) as info:
        run_pipeline("batch_s3_pg")

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
        run_pipeline("batch_s3_pg")

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

    run_pipeline("batch_s3_pg")

    kept = [e for e in events if e.event_id != bad.event_id]
    rows = summary_rows(pg)
    assert sum(r[0] for r in rows.values()) == len(kept) == len(events) - 1
    expected = expected_user_summary(kept)
    assert {u: (r[0], round(r[1], 2)) for u, r in rows.items()} == {
        u: (w.total_events, w.total_amount) for u, w in expected.items()
    }


def test_dead_letters_reconcile_and_land_in_the_real_sink(
    spark: SparkSession, pg: Any, services: dict[str, str]
) -> None:
    events = list(user_events(400, users=6, seed=6))
    bad = [e for e in events if e.amount is not None][:2]
    csv_text = user_events_csv(events)
    for event in bad:
        csv_text = csv_text.replace(f",{event.amount:.2f}\n", f",-{event.amount:.2f}\n", 1)
    s3 = fresh_input(services, csv_text)
    for obj in s3.list_objects_v2(Bucket="spark-etl-example-lake", Prefix="dead_letters/").get(
        "Contents", []
    ):
        s3.delete_object(Bucket="spark-etl-example-lake", Key=obj["Key"])

    log = io.StringIO()
    run_pipeline("batch_s3_pg", log)

    (end,) = [e for e in json_events(log.getvalue()) if e["event"] == "run_end"]
    assert end["status"] == "partial"
    assert end["pipeline"] == "batch_s3_pg"
    assert end["records_saved"]["user_events"] + end["dead_letters"]["dead_letters"] == len(events)
    assert end["dead_letters"] == {"dead_letters": 2}
    letters = spark.read.format("avro").load("s3a://spark-etl-example-lake/dead_letters/")
    rows = letters.collect()
    assert sorted(json.loads(r.payload)["event_id"] for r in rows) == sorted(
        e.event_id for e in bad
    )
    assert {(r.stage, r.pipeline, r.error) for r in rows} == {
        ("quality", "batch_s3_pg", "quality: range(amount, 0.0..None)")
    }


def test_logs_are_json_with_context_and_carry_no_secret(
    spark: SparkSession, pg: Any, services: dict[str, str], capfd: pytest.CaptureFixture[str]
) -> None:
    fresh_input(services, user_events_csv(list(user_events(100, users=4, seed=8))))
    log = io.StringIO()
    run_pipeline("batch_s3_pg", log)
    captured = capfd.readouterr()
    output = log.getvalue() + captured.out + captured.err
    for name in ("SPARK_ETL_PG_PASSWORD", "SPARK_ETL_S3_SECRET_KEY", "SPARK_ETL_MYSQL_PASSWORD"):
        assert services[name] not in output, f"{name} leaked into the run's output"
    events = json_events(log.getvalue())
    kinds = [e["event"] for e in events]
    assert kinds[0] == "run_start" and kinds[-1] == "run_end"
    assert {"node_end", "dataset_saved", "contract_check", "quality_check"} <= set(kinds)
    assert all(e["pipeline"] == "batch_s3_pg" and e["run_id"] for e in events)
    saved = {e["dataset"]: e for e in events if e["event"] == "dataset_saved"}
    assert saved["user_events"]["records"] == 100
    assert saved["user_summary"]["write_mode"] == "upsert"
    assert saved["user_summary"]["node"] == "summarise_users"


class StartOnRetry(logging.Handler):
    """Starts PostgreSQL when the runner announces its first retry, i.e. during the delay."""

    def __init__(self) -> None:
        super().__init__()
        self.started = False

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "event", None) == "retry" and not self.started:
            self.started = True
            local_stack("up", "postgres")


@pytest.mark.slow
def test_postgres_restarting_during_the_retry_delay_is_survived(
    spark: SparkSession, services: dict[str, str]
) -> None:
    """A real transient failure: PostgreSQL is down when the load starts, and is started again
    during the real 5-second retry delay; the run resumes from the failed node and succeeds."""
    events = list(user_events(300, users=7, seed=9))
    fresh_input(services, user_events_csv(events))
    local_stack("down", "postgres")
    starter = StartOnRetry()
    runner_log = logging.getLogger("spark_etl.runtime.runner")
    runner_log.addHandler(starter)
    log = io.StringIO()
    try:
        run_pipeline("batch_s3_pg", log)
    finally:
        runner_log.removeHandler(starter)
        local_stack("up", "postgres")
    out = json_events(log.getvalue())
    (retried,) = [e for e in out if e["event"] == "retry"]
    assert retried["attempt"] == 1 and retried["attempts"] == 4 and retried["delay_s"] == 5.0
    assert retried["resume_nodes"] == ["summarise_users"]  # user_events is persisted on S3
    assert "postgresql at 127.0.0.1" in retried["error"] and "is not reachable" in retried["error"]
    assert [e["status"] for e in out if e["event"] == "run_end"] == ["success"]
    with connect_postgres(services) as conn:
        rows = conn.execute("SELECT user_id, total_events FROM user_summary").fetchall()
    expected = expected_user_summary(events)
    assert dict(rows) == {u: w.total_events for u, w in expected.items()}
