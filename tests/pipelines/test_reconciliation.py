"""Counts that add up: one ``kedro run`` copies a source to a sink of each kind (S3, PostgreSQL,
MariaDB, Kafka) and lands a Kafka topic on S3; ``run_end`` must reconcile every sink (records in =
written + rejected + skipped) with the numbers the sinks hold when read back."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from kedro_run import LAKE_BUCKET, Env, clear_prefix, produce_events, reset_topic, s3_client
from pyspark.sql import SparkSession
from spark_etl_example.sample_data import user_events

from spark_etl.contracts import default_registry
from spark_etl.datasets import KafkaDataset, S3Dataset

pytestmark = pytest.mark.integration

ROWS, NEGATIVE = 50, 5  # NEGATIVE of the rows break the sinks' drop rule (amount >= 0)
GOOD, TOMBSTONES, GARBAGE = 20, 2, 1  # the landed topic
COLUMNS = ["event_id", "user_id", "event_type", "timestamp", "properties", "amount"]


def sink_entry(kind: str, name: str, services: dict[str, str]) -> dict[str, Any]:
    rules = {
        "class": "spark_etl.contracts.quality.QualityRules",
        "on": ["save"],
        "options": {
            "dataset": f"recon_{kind}",
            "rules": [{"rule": "range", "column": "amount", "min": 0, "severity": "drop"}],
        },
    }
    if kind == "s3":
        entry = {
            "type": "spark_etl.datasets.S3Dataset",
            "path": f"s3a://{LAKE_BUCKET}/{name}/s3/",
            "file_format": "avro",
            "credentials": "s3",
        }
    elif kind in ("pg", "mysql"):
        url = services["SPARK_ETL_PG_URL" if kind == "pg" else "SPARK_ETL_MYSQL_URL"]
        entry = {
            "type": "spark_etl.datasets.JDBCDataset",
            "url": url,
            "table": name,
            "credentials": "postgres" if kind == "pg" else "mysql",
        }
    else:
        entry = {
            "type": "spark_etl.datasets.KafkaDataset",
            "bootstrap_servers": services["SPARK_ETL_KAFKA_BOOTSTRAP"],
            "topic": name,
        }
    return {
        **entry,
        "write_mode": "overwrite" if kind != "kafka" else "append",
        "metadata": {"schema": "user_event"},
        "validator": rules,
    }


def declared(pid: str, source: str, sink: str) -> dict[str, Any]:
    return {
        "id": pid,
        "sources": [source],
        "steps": [{"transform": "select", "params": {"columns": COLUMNS}}],
        "sink": {"dataset": sink},
    }


def test_every_sink_kind_reconciles_in_with_written_rejected_and_skipped(
    conf_env: Env,
    spark: SparkSession,
    services: dict[str, str],
    s3_credentials: dict[str, Any],
    pg: Any,
    mysql: Any,
) -> None:
    name = f"recon_{conf_env.name}"
    bootstrap = services["SPARK_ETL_KAFKA_BOOTSTRAP"]
    contract = default_registry().get("user_event")
    events = list(user_events(ROWS, users=10, seed=31))
    rows = [
        (
            e.event_id,
            e.user_id,
            e.event_type,
            e.timestamp.replace(tzinfo=None),
            e.properties,
            -1.0 if i < NEGATIVE else (e.amount or 0.0),
        )
        for i, e in enumerate(events)
    ]

    def lake(folder: str) -> S3Dataset:
        return S3Dataset(
            path=f"s3a://{LAKE_BUCKET}/{name}/{folder}/",
            file_format="avro",
            credentials=s3_credentials,
            metadata={"schema": "user_event"},
        )

    lake("source").save(spark.createDataFrame(rows, contract.spark_schema).coalesce(1))
    landing_in = f"{name}-in"
    reset_topic(spark, bootstrap, landing_in)
    produce_events(spark, bootstrap, list(user_events(GOOD, users=5, seed=32)), topic=landing_in)
    (
        spark.createDataFrame(
            [(b"gone-1", None), (b"gone-2", None), (b"k", b"not avro")], "key binary, value binary"
        )
        .write.format("kafka")
        .option("kafka.bootstrap.servers", bootstrap)
        .option("topic", landing_in)
        .save()
    )
    catalog = {
        "recon_source": {
            "type": "spark_etl.datasets.S3Dataset",
            "path": f"s3a://{LAKE_BUCKET}/{name}/source/",
            "file_format": "avro",
            "credentials": "s3",
            "metadata": {"schema": "user_event"},
        },
        **{f"recon_{k}": sink_entry(k, name, services) for k in ("s3", "pg", "mysql", "kafka")},
        "recon_topic": {
            "type": "spark_etl.datasets.KafkaDataset",
            "bootstrap_servers": bootstrap,
            "topic": landing_in,
            "metadata": {"schema": "user_event"},
        },
        "recon_landing": {
            "type": "spark_etl.datasets.S3Dataset",
            "path": f"s3a://{LAKE_BUCKET}/{name}/landing/",
            "file_format": "avro",
            "write_mode": "overwrite",
            "credentials": "s3",
            "metadata": {"schema": "user_event"},
        },
    }
    conf_env.write("catalog.yml", catalog)
    for kind in ("s3", "pg", "mysql", "kafka"):
        conf_env.write(
            f"pipelines/recon_{kind}.yml",
            declared(f"recon_{kind}", "recon_source", f"recon_{kind}"),
        )
    conf_env.write(
        "pipelines/recon_landing.yml", declared("recon_landing", "recon_topic", "recon_landing")
    )
    try:
        done = conf_env.run("recon_s3,recon_pg,recon_mysql,recon_kafka,recon_landing")
        assert done.returncode == 0, done.stderr + done.stdout[-4000:]
        events_logged = [json.loads(x) for x in done.stdout.splitlines() if x.startswith("{")]
        (end,) = [e for e in events_logged if e.get("event") == "run_end"]

        kept = ROWS - NEGATIVE
        by_sink = {r["sink"]: r for r in end["reconciliation"]}
        for kind in ("s3", "pg", "mysql", "kafka"):
            assert by_sink[f"recon_{kind}"] == {
                "sink": f"recon_{kind}",
                "in": ROWS,
                "written": kept,
                "rejected": NEGATIVE,
                "skipped": 0,
                "adds_up": True,
                "changes": ["filters"],  # the drop rule's filter
            }
        landing = by_sink["recon_landing"]
        assert (landing["in"], landing["written"], landing["rejected"], landing["skipped"]) == (
            GOOD + TOMBSTONES + GARBAGE,
            GOOD,
            GARBAGE,
            TOMBSTONES,
        )
        assert landing["adds_up"] is True
        assert end["reads"]["recon_source"] == {"records": ROWS}
        assert end["reads"]["recon_topic"] == {
            "records": GOOD + TOMBSTONES + GARBAGE,
            "tombstones": TOMBSTONES,
            "skipped": TOMBSTONES,
        }
        assert end["rejected"] == {
            f"recon_{k}": NEGATIVE for k in ("s3", "pg", "mysql", "kafka")
        } | {f"kafka:{landing_in}": GARBAGE}  # a Kafka source's own dead letters name its topic
        assert not [e for e in events_logged if e.get("event") == "reconciliation_failed"]
        # the summary table says the same
        assert (
            f"counts: recon_pg: {ROWS} in = {kept} written + {NEGATIVE} rejected" in end["message"]
        )

        # and the sinks hold what the counts say
        assert lake("s3").load().count() == kept
        assert pg.execute(f"SELECT count(*) FROM {name}").fetchone()[0] == kept
        with mysql.cursor() as cur:
            cur.execute(f"SELECT count(*) FROM {name}")
            assert cur.fetchone()[0] == kept
        topic = KafkaDataset(
            bootstrap_servers=bootstrap, topic=name, metadata={"schema": "user_event"}
        )
        assert topic.load().count() == kept
        landed = lake("landing").load()
        assert landed.count() == GOOD
        assert all(isinstance(r.timestamp, datetime) for r in landed.collect())
    finally:
        clear_prefix(s3_client(services), LAKE_BUCKET, f"{name}/")
        pg.execute(f"DROP TABLE IF EXISTS {name}")
        with mysql.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {name}")
        reset_topic(spark, bootstrap, name)
        reset_topic(spark, bootstrap, landing_in)
