"""The other batch pipelines end to end through Kedro, against the real servers."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

import kedro_run
import pytest
from datagen import transactions, transactions_csv, users
from kedro_run import (
    LAKE_BUCKET,
    clear_prefix,
    create_users_table,
    put_raw,
    reset_topic,
    run_pipeline,
    s3_client,
)
from pyspark.sql import SparkSession
from spark_etl_example.sample_data import (
    EVENT_TYPES,
    expected_user_summary,
    user_events,
    user_events_csv,
)

from spark_etl.contracts import default_registry
from spark_etl.datasets import KafkaDataset
from spark_etl.datasets._state import FileStateStore

pytestmark = pytest.mark.integration

USERS = 30
KNOWN_USERS = 25  # the reference table lacks the last five: the left join keeps their rows


@pytest.fixture
def users_table(mysql: Any) -> dict[str, Any]:
    """A fresh ``users`` reference table in MariaDB."""
    rows = users(KNOWN_USERS, seed=11)
    create_users_table(mysql, rows)
    return {u.user_id: u for u in rows}


def test_batch_s3_mysql_s3_enriches_every_transaction(
    spark: SparkSession, services: dict[str, str], users_table: dict[str, Any]
) -> None:
    txns = list(transactions(500, users=USERS, seed=12))
    put_raw(services, "transactions/", transactions_csv(txns))

    for _ in range(2):  # overwrite: a second run leaves the same rows
        run_pipeline("batch_s3_mysql_s3")
        out = spark.read.format("avro").load("s3a://spark-etl-example-lake/enriched_transactions/")
        got = {r.transaction_id: r for r in out.collect()}
        assert len(got) == out.count() == 500

    for t in txns:
        row = got[t.transaction_id]
        user = users_table.get(t.user_id)
        assert (row.user_id, row.amount, row.currency, row.status) == (
            t.user_id,
            Decimal(t.amount),
            t.currency,
            t.status,
        )
        assert row.transaction_time == t.transaction_time.replace(tzinfo=None)
        assert (row.country, row.segment) == (
            (user.country, user.segment) if user else (None, None)
        )
    assert (
        out.schema.simpleString()
        == default_registry().get("enriched_transaction").spark_schema.simpleString()
    )


def test_batch_pg_mysql_kafka_publishes_one_profile_per_user(
    spark: SparkSession, services: dict[str, str], users_table: dict[str, Any], pg: Any
) -> None:
    events = list(user_events(600, users=USERS, seed=13))
    put_raw(services, "user_events/", user_events_csv(events))
    pg.execute("DROP TABLE IF EXISTS user_summary")
    run_pipeline("batch_s3_pg")
    reset_topic(spark, services["SPARK_ETL_KAFKA_BOOTSTRAP"], "user-profiles")

    run_pipeline("batch_pg_mysql_kafka")

    topic = KafkaDataset(
        bootstrap_servers=services["SPARK_ETL_KAFKA_BOOTSTRAP"],
        topic="user-profiles",
        metadata={"schema": "user_profile"},
    )
    records = topic.load().collect()
    profiles = {r.kafka_key: r for r in records}
    assert len(records) == len(profiles) == USERS  # one keyed record per user
    summary = expected_user_summary(events)
    for user_id, want in summary.items():
        got, ref = profiles[user_id], users_table.get(user_id)
        assert got.user_id == user_id
        assert (got.total_events, round(got.total_amount, 2)) == (
            want.total_events,
            want.total_amount,
        )
        assert (got.name, got.country) == ((ref.name, ref.country) if ref else (None, None))


def test_batch_kafka_s3_counts_events_per_hour_and_type(
    spark: SparkSession, services: dict[str, str], s3_credentials: dict[str, Any]
) -> None:
    bootstrap = services["SPARK_ETL_KAFKA_BOOTSTRAP"]
    reset_topic(spark, bootstrap, "user-events")
    # the topic is new: so is the incremental source's state (its last offsets were the old one's)
    FileStateStore(f"s3a://{LAKE_BUCKET}/_spark_etl_state/", s3_credentials).delete(
        "batch_kafka_s3"
    )
    events = list(user_events(2_000, users=USERS, seed=14))
    kedro_run.produce_events(spark, services["SPARK_ETL_KAFKA_BOOTSTRAP"], events)
    clear_prefix(s3_client(services), "spark-etl-example-lake", "event_counts/")
    log = io.StringIO()

    run_pipeline("batch_kafka_s3", log)

    (end,) = [e for e in kedro_run.json_events(log.getvalue()) if e["event"] == "run_end"]
    assert end["reads"] == {"event_stream": {"records": 2_000, "tombstones": 0, "skipped": 0}}

    counts = spark.read.format("avro").load("s3a://spark-etl-example-lake/event_counts/").collect()
    expected: dict[tuple[Any, str], int] = {}
    for e in events:
        hour = e.timestamp.replace(minute=0, second=0, tzinfo=None)
        expected[(hour, e.event_type)] = expected.get((hour, e.event_type), 0) + 1
    assert {(r.window_start, r.event_type): r.events for r in counts} == expected
    assert all((r.window_end - r.window_start).total_seconds() == 3600 for r in counts)
    assert {r.event_type for r in counts} <= set(EVENT_TYPES)

    log = io.StringIO()  # incremental: a second run reads nothing and appends nothing
    run_pipeline("batch_kafka_s3", log)
    (end,) = [e for e in kedro_run.json_events(log.getvalue()) if e["event"] == "run_end"]
    assert end["reads"]["event_stream"]["records"] == 0
    again = spark.read.format("avro").load("s3a://spark-etl-example-lake/event_counts/").count()
    assert again == len(counts)
