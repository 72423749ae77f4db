"""``streaming_kafka_kafka`` in Spark's Real-Time Mode, run as ``kedro run`` against the real
broker and S3: every valid event on the output topic once, the undecodable one in the dead
letters, and a step Real-Time Mode cannot run refused before anything is written."""

from __future__ import annotations

import math
import uuid
from pathlib import Path
from typing import Any

import pytest
from kedro_run import (
    Env,
    clear_prefix,
    json_events,
    produce_events,
    reset_topic,
    s3_client,
    topic_names,
)
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.avro.functions import from_avro
from spark_etl_example.sample_data import UserEvent, user_events

from spark_etl.contracts import default_registry
from spark_etl.datasets._s3_location import S3Location

pytestmark = [pytest.mark.integration, pytest.mark.streaming]
LETTERS = "s3a://spark-etl-example-lake/dead_letters/"


@pytest.fixture
def realtime_env(tmp_path: Path, services: dict[str, str], spark: SparkSession) -> dict[str, str]:
    """Fresh checkpoints, input topic and output topic of this test's own."""
    bootstrap = services["SPARK_ETL_KAFKA_BOOTSTRAP"]
    reset_topic(spark, bootstrap, "user-events")
    topic = f"priced-{uuid.uuid4().hex[:8]}"
    return {
        "SPARK_ETL_CHECKPOINTS": str(tmp_path / "checkpoints"),
        "SPARK_ETL_PRICED_TOPIC": topic,
        "SPARK_ETL_REALTIME_TRIGGER": "real-time",
        "SPARK_ETL_DEAD_LETTER_TRIGGER": "2 seconds",
        "SPARK_ETL_LOG_FORMAT": "json",
    }


def read_topic(spark: SparkSession, bootstrap: str, topic: str) -> list[Any]:
    """The records of ``topic``, decoded as ``priced_event``."""
    schema = default_registry().get("priced_event").avro_json
    return (
        spark.read.format("kafka")
        .option("kafka.bootstrap.servers", bootstrap)
        .option("subscribe", topic)
        .option("startingOffsets", "earliest")
        .option("kafka.allow.auto.create.topics", "false")
        .load()
        .select(F.col("key").cast("string").alias("key"), from_avro("value", schema).alias("e"))
        .select("key", "e.*")
        .collect()
    )


def test_real_time_writes_each_valid_event_once_and_routes_the_undecodable_one(
    realtime_env: dict[str, str],
    spark: SparkSession,
    services: dict[str, str],
    s3_credentials: dict[str, Any],
    conf_env: Env,
) -> None:
    bootstrap = services["SPARK_ETL_KAFKA_BOOTSTRAP"]
    s3 = s3_client(services)
    clear_prefix(s3, "spark-etl-example-lake", "dead_letters/")
    events = list(user_events(2_000, users=40, seed=61))
    last = events[-1].timestamp
    invalid = [
        UserEvent(f"neg-{i}", "user-00001", "purchase", last, {}, -1.0 - i) for i in range(3)
    ]
    produce_events(spark, bootstrap, [*events[:1_000], *invalid])
    (
        spark.createDataFrame([(b"not avro at all",)], "value binary")
        .write.format("kafka")
        .option("kafka.bootstrap.servers", bootstrap)
        .option("topic", "user-events")
        .save()
    )
    produce_events(spark, bootstrap, events[1_000:])

    run = conf_env.run("streaming_kafka_kafka", "--max-duration", "30s", environ=realtime_env)

    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    written = read_topic(spark, bootstrap, realtime_env["SPARK_ETL_PRICED_TOPIC"])
    want = {e.event_id: e for e in events if e.amount is None or e.amount >= 0}
    assert len(written) == len(want)  # each once: no invalid, none twice
    assert {r.event_id for r in written} == set(want)
    for record in written:
        amount = want[record.event_id].amount
        cents = None if amount is None else math.floor(amount * 100 + 0.5)  # half up, as Spark
        assert (record.key, record.amount, record.amount_cents) == (
            want[record.event_id].user_id,
            amount,
            cents,
        )
    S3Location(LETTERS, s3_credentials).configure(spark)  # the run was a process of its own
    letters = spark.read.format("avro").load(LETTERS).collect()
    assert [bytes(r.payload) for r in letters] == [b"not avro at all"]
    said = json_events(run.stdout)
    (trigger,) = [e for e in said if e["event"] == "streaming_trigger"]
    assert trigger["trigger"] == {"realTime": "1 minute"}
    assert "Real-Time Mode, each record written as it arrives" in trigger["message"]


def test_a_step_real_time_mode_cannot_run_is_found_by_the_check_and_runs_nothing(
    realtime_env: dict[str, str], spark: SparkSession, services: dict[str, str], conf_env: Env
) -> None:
    bootstrap = services["SPARK_ETL_KAFKA_BOOTSTRAP"]
    produce_events(spark, bootstrap, list(user_events(100, users=10, seed=62)))
    conf_env.write(
        "pipelines/priced_unique.yml",
        {
            "id": "priced_unique",
            "sources": ["event_stream_realtime"],
            "steps": [
                {
                    "transform": "dedup",
                    "params": {
                        "keys": ["event_id"],
                        "watermark_column": "timestamp",
                        "watermark_delay": "10 minutes",
                    },
                },
                {
                    "transform": "derive",
                    "params": {"columns": {"amount_cents": "CAST(round(amount * 100) AS BIGINT)"}},
                },
                {
                    "transform": "select",
                    "params": {
                        "columns": [
                            "event_id",
                            "user_id",
                            "event_type",
                            "timestamp",
                            "amount",
                            "amount_cents",
                        ]
                    },
                },
            ],
            "sink": {"dataset": "priced_events", "write_mode": "append"},
        },
    )

    refusal = (
        f"dataset 'priced_events': KafkaDataset '{realtime_env['SPARK_ETL_PRICED_TOPIC']}': "
        "trigger: real-time cannot run this pipeline; Real-Time Mode runs stateless steps only "
        "(select, derive, filter, contracts, explode, union, broadcast joins) and the pipeline "
        "has a de-duplication (dedup, dropDuplicatesWithinWatermark): DeduplicateWithinWatermark"
        " [event_id]. Move that step into a pipeline with a micro-batch trigger "
        "(trigger: 5 seconds), or set that trigger here."
    )
    check = conf_env.check("priced_unique", environ=realtime_env)
    assert check.returncode == 2, check.stdout[-3000:] + check.stderr[-3000:]
    assert check.stdout.splitlines()[-2:] == ["priced_unique: 1 problem(s)", f"  - {refusal}"]

    run = conf_env.run("priced_unique", "--max-duration", "30s", environ=realtime_env)

    assert run.returncode == 2, run.stdout[-3000:] + run.stderr[-3000:]  # a configuration error
    topic = realtime_env["SPARK_ETL_PRICED_TOPIC"]
    said = run.stderr.splitlines()
    assert said[:2] == [
        "Error: Pipeline 'priced_unique' would fail; nothing was run (1 problem found):",
        f"  - {refusal}",
    ]
    assert "Traceback" not in run.stderr
    said_events = json_events(run.stdout)
    (preflight,) = [e for e in said_events if e["event"] == "preflight"]
    assert preflight["problems"] == [refusal]
    assert not any(e["event"] == "streaming_start" for e in said_events)
    assert topic not in topic_names(spark, bootstrap)  # nothing was written
