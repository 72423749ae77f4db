"""Spark <-> Kafka through spark-sql-kafka and spark-avro, against the real local KRaft broker.

The Kafka strategy (``KafkaDataset``) builds on exactly these calls; this test pins the connector
layer itself: the jars resolve, the broker answers, and Avro payloads survive the round trip.
"""

from __future__ import annotations

import json

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.avro.functions import from_avro, to_avro

pytestmark = pytest.mark.integration

EVENT_SCHEMA = json.dumps(
    {
        "type": "record",
        "name": "Ping",
        "namespace": "spark_etl.test",
        "fields": [{"name": "id", "type": "long"}, {"name": "note", "type": "string"}],
    }
)


def test_spark_writes_and_reads_avro_records_on_kafka(
    spark: SparkSession, services: dict[str, str], unique_name: str
) -> None:
    bootstrap = services["SPARK_ETL_KAFKA_BOOTSTRAP"]
    rows = spark.range(500).select(
        F.col("id"), F.concat(F.lit("note-"), F.col("id").cast("string")).alias("note")
    )
    (
        rows.select(
            F.col("id").cast("string").alias("key"),
            to_avro(F.struct("id", "note"), EVENT_SCHEMA).alias("value"),
        )
        .write.format("kafka")
        .option("kafka.bootstrap.servers", bootstrap)
        .option("topic", unique_name)
        .save()
    )

    raw = (
        spark.read.format("kafka")
        .option("kafka.bootstrap.servers", bootstrap)
        .option("subscribe", unique_name)
        .option("startingOffsets", "earliest")
        .option("endingOffsets", "latest")
        .load()
    )
    back = raw.select(
        F.col("key").cast("string").alias("key"), from_avro("value", EVENT_SCHEMA).alias("v")
    ).select("key", "v.*")

    got = {(r.key, r.id, r.note) for r in back.collect()}
    assert back.count() == 500
    assert got == {(str(i), i, f"note-{i}") for i in range(500)}
