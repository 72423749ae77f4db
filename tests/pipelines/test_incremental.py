"""Incremental Kafka batches through ``kedro run``: the second run reads nothing, new records are
read exactly once, and a run killed with SIGKILL mid-run commits nothing, so the next run reads
its range again and the sink ends exact."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
from kedro_run import (
    KEDRO,
    LAKE_BUCKET,
    ROOT,
    Env,
    clear_prefix,
    kill_while_writing,
    produce_events,
    reset_topic,
    run_end,
    s3_client,
)
from pyspark.sql import SparkSession
from spark_etl_example.sample_data import user_events

from spark_etl.datasets import S3Dataset
from spark_etl.datasets._state import FileStateStore

pytestmark = pytest.mark.integration


def kedro(env: Env, *args: str) -> str:
    """``kedro ARGS --env NAME`` in the example project; its output."""
    done = subprocess.run(
        [KEDRO, *args, "--env", env.name], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return done.stdout


def test_each_run_reads_what_the_last_successful_one_did_not(
    conf_env: Env, spark: SparkSession, services: dict[str, str], s3_credentials: dict[str, Any]
) -> None:
    name = f"incr-{conf_env.name}"
    bootstrap = services["SPARK_ETL_KAFKA_BOOTSTRAP"]
    state_path = f"s3a://{LAKE_BUCKET}/{name}/state/"
    counts = S3Dataset(
        path=f"s3a://{LAKE_BUCKET}/{name}/counts/", file_format="avro", credentials=s3_credentials
    )
    conf_env.write(
        "catalog.yml",
        {
            "event_stream": {
                "type": "spark_etl.datasets.KafkaDataset",
                "bootstrap_servers": bootstrap,
                "topic": name,
                "incremental": True,
                "metadata": {"schema": "user_event"},
            },
            "event_counts": {
                "type": "spark_etl.datasets.S3Dataset",
                "path": f"s3a://{LAKE_BUCKET}/{name}/counts/",
                "file_format": "avro",
                "write_mode": "append",
                "credentials": "s3",
                "metadata": {"schema": "event_count"},
            },
        },
    )
    conf_env.write("runtime.yml", {"state": {"path": state_path, "credentials": "s3"}})
    store = FileStateStore(state_path, s3_credentials)

    def events_counted() -> int:
        return sum(r.events for r in counts.load().collect())

    reset_topic(spark, bootstrap, name)
    try:
        produce_events(spark, bootstrap, list(user_events(300, users=20, seed=41)), topic=name)
        first = run_end(conf_env.run("batch_kafka_s3"))
        assert first["reads"]["event_stream"]["records"] == 300
        assert events_counted() == 300
        (entry,) = store.entries("batch_kafka_s3")
        assert (entry.dataset, entry.position) == ("event_stream", {name: {"0": 300}})

        again = run_end(conf_env.run("batch_kafka_s3"))  # nothing new: nothing read or added
        assert again["reads"]["event_stream"]["records"] == 0
        assert again["writes"]["event_counts"]["records"] == 0
        assert events_counted() == 300

        produce_events(spark, bootstrap, list(user_events(200, users=20, seed=42)), topic=name)
        more = run_end(conf_env.run("batch_kafka_s3"))
        assert more["reads"]["event_stream"]["records"] == 200
        assert events_counted() == 500
        assert store.read("batch_kafka_s3", "event_stream").position == {name: {"0": 500}}

        # SIGKILL once the range is fixed and the write has begun: nothing is committed
        produce_events(spark, bootstrap, list(user_events(100, users=20, seed=43)), topic=name)
        kill_while_writing(conf_env, "batch_kafka_s3", "event_counts")
        assert store.read("batch_kafka_s3", "event_stream").position == {name: {"0": 500}}

        after = run_end(conf_env.run("batch_kafka_s3"))
        assert after["reads"]["event_stream"]["records"] == 100
        assert events_counted() == 600  # every record counted once
        assert store.read("batch_kafka_s3", "event_stream").position == {name: {"0": 600}}

        refreshed = run_end(conf_env.run("batch_kafka_s3", "--full-refresh"))
        assert refreshed["reads"]["event_stream"]["records"] == 600

        shown = kedro(conf_env, "state", "show")
        assert "batch_kafka_s3  event_stream  " in shown
        assert f'{{"{name}": {{"0": 600}}}}' in shown
        reset = kedro(conf_env, "state", "reset", "--pipeline", "batch_kafka_s3", "--yes")
        assert "Removed 1 state entry of pipeline 'batch_kafka_s3'." in reset
        assert store.entries() == []
    finally:
        clear_prefix(s3_client(services), LAKE_BUCKET, f"{name}/")
        reset_topic(spark, bootstrap, name)
