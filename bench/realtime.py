"""The Real-Time Mode benchmark: ``streaming_kafka_kafka`` in Real-Time Mode against micro-batches.

The example's Kafka -> Kafka pipeline (valid events priced in cents, stateless) runs under the
streaming benchmark's fixed-rate producer twice: its sink's trigger ``real-time``, then a
micro-batch trigger. Each run writes to a fresh output topic that the broker stamps with its own
append time (``message.timestamp.type=LogAppendTime``), so a record's latency is read from the
topic afterwards: the time the broker appended it to the output topic less its event time (the
producer's hand-off, to the millisecond). No clock of the consumer is involved.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.avro.functions import from_avro

from bench.streaming import (
    EXAMPLE,
    TOPIC,
    Producer,
    ProgressLog,
    StreamPipeline,
    StreamResult,
    _pcts,
    _run_pipeline,
    _stage_medians,
    _wait_for_query,
    end_run,
    environment,
    recreate_topic,
)
from spark_etl.contracts import default_registry

PIPELINE = StreamPipeline(name="streaming_kafka_kafka", query="priced_events", table="")
OUTPUT = "bench-priced-events"
APPENDED = "LogAppendTime"
#: The micro-batch run's trigger: the next micro-batch as soon as one ends (their lowest latency).
MICRO_BATCH = "0 seconds"


@dataclass(frozen=True)
class RealTimePlan:
    """One run: the producer's rate and time, the warm-up left out, the sink's trigger."""

    rate: int
    seconds: float
    warmup_s: float
    trigger: str


def _written(spark: SparkSession, bootstrap: str) -> int:
    """How many records the output topic holds."""
    return (
        spark.read.format("kafka")
        .option("kafka.bootstrap.servers", bootstrap)
        .option("subscribe", OUTPUT)
        .load()
        .count()
    )


def run_real_time(
    spark: SparkSession, env: dict[str, str], work: Path, plan: RealTimePlan
) -> StreamResult:
    """One producer + pipeline run with the sink's trigger ``plan.trigger``."""
    bootstrap = env["SPARK_ETL_KAFKA_BOOTSTRAP"]
    work.mkdir(parents=True, exist_ok=True)
    recreate_topic(spark, bootstrap)
    # stamped with the broker's append time: a record's latency is read from the topic
    recreate_topic(spark, bootstrap, topic=OUTPUT, configs={"message.timestamp.type": APPENDED})
    settings = {
        "SPARK_ETL_CHECKPOINTS": str(work / "checkpoints"),
        "SPARK_ETL_REALTIME_TRIGGER": plan.trigger,
        "SPARK_ETL_PRICED_TOPIC": OUTPUT,
        "SPARK_ETL_ON_DECODE_ERROR": "fail",  # no dead-letter side query in either run
        "SPARK_ETL_STREAMING_MAX_SECONDS": str(plan.seconds + 900),  # stopped once caught up
    }
    log = ProgressLog(PIPELINE.query)
    spark.streams.addListener(log)
    producer = Producer(bootstrap, plan.rate, plan.warmup_s + plan.seconds)
    errors: list[BaseException] = []
    consumer: threading.Thread | None = None
    with environment(settings):
        try:
            with contextlib.chdir(EXAMPLE):
                consumer = threading.Thread(
                    target=_run_pipeline, args=(errors, PIPELINE), daemon=True
                )
                consumer.start()
                _wait_for_query(spark, PIPELINE.query, errors)
            producer.go()
            started_ms = int(time.time() * 1000)
            summary = producer.wait(plan.warmup_s + plan.seconds + 300)
            deadline = time.monotonic() + 300
            while _written(spark, bootstrap) < summary["produced"]:  # every event is valid
                if errors or time.monotonic() > deadline:
                    break
                time.sleep(1)
        finally:
            end_run(spark, consumer, log, producer)
    if errors:
        raise RuntimeError(f"{PIPELINE.name} failed during the benchmark: {errors[0]}")
    since_ms = started_ms + int(plan.warmup_s * 1000)
    result = measure(spark, bootstrap, since_ms, int(summary["produced"]))
    measured = [b for b in log.batches if b.ended_ms >= since_ms]
    durations = sorted(b.duration_ms / 1000 for b in measured)
    result.batches = len(measured)
    result.batch_duration_s = {
        "p50": durations[len(durations) // 2] if durations else 0.0,
        "max": durations[-1] if durations else 0.0,
    }
    result.extra.update(
        {
            "producer": summary,
            "trigger": plan.trigger,
            "rate": plan.rate,
            "warmup_s": plan.warmup_s,
            "stages_ms_p50": _stage_medians(log.batches, since_ms),
        }
    )
    return result


def measure(spark: SparkSession, bootstrap: str, since_ms: int, produced: int) -> StreamResult:
    """Each output record's latency (the broker's append to the output topic less its event
    time) and its append latency (less its append to the input topic), over the records with
    an event time from ``since_ms`` on."""
    schema = default_registry().get("priced_event").avro_json

    def topic(name: str) -> Any:
        return (
            spark.read.format("kafka")
            .option("kafka.bootstrap.servers", bootstrap)
            .option("subscribe", name)
            .option("startingOffsets", "earliest")
            .option("endingOffsets", "latest")
            .load()
        )

    out = topic(OUTPUT).select(
        F.col("timestamp").alias("written"),
        from_avro("value", schema).alias("e"),
    )
    inputs = topic(TOPIC).select(
        F.col("timestamp").alias("appended"),
        from_avro("value", default_registry().get("user_event").avro_json)
        .getField("event_id")
        .alias("event_id"),
    )
    records = (
        out.select("written", "e.event_id", F.col("e.timestamp").alias("event_time"))
        .join(inputs, "event_id", "left")
        .filter(F.unix_millis("event_time") >= since_ms)
    )
    pcts = F.array(F.lit(0.5), F.lit(0.95), F.lit(0.99))
    latency = (F.unix_millis("written") - F.unix_millis("event_time")) / 1000
    row = records.agg(
        F.count(F.lit(1)).alias("records"),
        F.count_distinct("event_id").alias("distinct"),
        F.percentile(latency, pcts).alias("latency"),
        F.percentile((F.unix_millis("written") - F.unix_millis("appended")) / 1000, pcts).alias(
            "append"
        ),
        F.max(latency).alias("latency_max"),
        F.max(F.unix_millis("event_time")).alias("last_event"),
        F.max(F.unix_millis("written")).alias("last_written"),
    ).first()
    assert row is not None
    span = max((row["last_written"] or 0) - since_ms, 1) / 1000
    produced_span = max((row["last_event"] or 0) - since_ms, 1) / 1000
    written = _written(spark, bootstrap)
    return StreamResult(
        records=row["records"],
        seconds=span,
        produced_rps=round(row["records"] / produced_span, 1),
        latency_s={**_pcts(row["latency"]), "max": round(row["latency_max"] or 0, 3)},
        append_latency_s=_pcts(row["append"]),
        batches=0,
        batch_duration_s={},
        not_visible=max(produced - written, 0),
        extra={
            "written": written,
            "produced": produced,
            "duplicates": row["records"] - row["distinct"],
        },
    )
