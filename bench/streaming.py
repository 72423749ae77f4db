"""Benchmark 4: ``streaming_kafka_pg`` while a producer writes Avro events to Kafka at a fixed rate.

One run: a fresh two-partition topic, the producer process (``bench.producer``) started and kept
waiting, the consumer started (the real pipeline through Kedro, or the hand-written baseline) and
seen polling, then the producer let go for ``seconds``. The consumer runs until it has read every
produced record, then stops gracefully.

Latency is measured per event, not per batch: afterwards the topic is read back (partition,
offset, event time, Kafka append time) and each record is matched to the consumer's micro-batch
whose offset range holds it; the record became visible in PostgreSQL when that batch ended (the
progress event's start + trigger duration; the upsert commits before the batch ends, so this is an
upper bound). Sustained throughput is records over the time from the first event to the last
visible batch: a consumer that falls behind stretches that time.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.avro.functions import from_avro
from pyspark.sql.streaming import StreamingQueryListener
from spark_etl_example.sample_data import connect_postgres

from spark_etl.contracts import default_registry
from spark_etl.datasets._jdbc_direct import DEFAULT_SMALL_BATCH_ROWS
from spark_etl.runtime.runner import RetryingRunner
from spark_etl.runtime.streaming import stop_gracefully

TOPIC = "user-events"
PARTITIONS = 2
PIPELINE_QUERY = "event_counts_pg"
BASELINE_QUERY = "bench_event_counts_baseline"
ROOT = Path(__file__).resolve().parents[1]
#: The example project, whose streaming_kafka_pg pipeline is measured.
EXAMPLE = ROOT / "example"


@dataclass
class Batch:
    """One micro-batch of the consumer: its offset range per partition and when it ended."""

    batch_id: int
    rows: int
    ended_ms: int
    duration_ms: int
    ranges: dict[int, tuple[int, int]]
    stages_ms: dict[str, int]
    #: the state store after the batch, over the query's stateful operators
    state_rows: int = 0
    state_bytes: int = 0


def _offsets(value: str | dict[str, Any] | None) -> dict[str, int]:
    """``{partition: offset}`` of the topic from a progress's offsets (JSON text or parsed)."""
    parsed = json.loads(value) if isinstance(value, str) else (value or {})
    return parsed.get(TOPIC, {})


class ProgressLog(StreamingQueryListener):
    """Collects the micro-batches of one named query (the listener bus runs it on the driver)."""

    def __init__(self, query_name: str) -> None:
        self.query_name = query_name
        self.batches: list[Batch] = []

    def onQueryStarted(self, event: Any) -> None:
        """Nothing to collect."""

    def onQueryProgress(self, event: Any) -> None:
        """Record the batch's offset range and end time."""
        progress = json.loads(event.progress.json)
        if progress.get("name") != self.query_name or not progress.get("numInputRows"):
            return
        source = progress["sources"][0]
        start, end = (_offsets(source.get(k)) for k in ("startOffset", "endOffset"))
        began = datetime.fromisoformat(progress["timestamp"].replace("Z", "+00:00"))
        duration = int(progress["durationMs"]["triggerExecution"])
        state = progress.get("stateOperators") or []
        self.batches.append(
            Batch(
                batch_id=progress["batchId"],
                rows=progress["numInputRows"],
                ended_ms=int(began.timestamp() * 1000) + duration,
                duration_ms=duration,
                ranges={int(p): (int(start.get(p, 0)), int(end[p])) for p in end},
                stages_ms={k: int(v) for k, v in progress["durationMs"].items()},
                state_rows=sum(int(op.get("numRowsTotal", 0)) for op in state),
                state_bytes=sum(int(op.get("memoryUsedBytes", 0)) for op in state),
            )
        )

    def onQueryIdle(self, event: Any) -> None:
        """Nothing to collect."""

    def onQueryTerminated(self, event: Any) -> None:
        """Nothing to collect."""

    @property
    def consumed(self) -> dict[int, int]:
        """The highest end offset per partition over the batches so far."""
        ends: dict[int, int] = {}
        for batch in list(self.batches):
            for partition, (_, end) in batch.ranges.items():
                ends[partition] = max(ends.get(partition, 0), end)
        return ends


@dataclass
class StreamResult:
    """What one streaming run measured."""

    records: int
    seconds: float
    produced_rps: float
    latency_s: dict[str, float]
    append_latency_s: dict[str, float]
    batches: int
    batch_duration_s: dict[str, float]
    not_visible: int
    extra: dict[str, Any] = field(default_factory=dict)


# ---- Kafka ------------------------------------------------------------------------------------
def _admin(spark: SparkSession, bootstrap: str) -> Any:
    jvm = spark._jvm
    assert jvm is not None
    props = jvm.java.util.Properties()
    props.put("bootstrap.servers", bootstrap)
    return jvm.org.apache.kafka.clients.admin.Admin.create(props)


def recreate_topic(
    spark: SparkSession,
    bootstrap: str,
    partitions: int = PARTITIONS,
    topic: str = TOPIC,
    configs: dict[str, str] | None = None,
) -> None:
    """Delete ``topic`` and create it empty with ``partitions`` partitions and ``configs``."""
    jvm = spark._jvm
    assert jvm is not None
    admin = _admin(spark, bootstrap)
    seconds = jvm.java.util.concurrent.TimeUnit.SECONDS
    try:
        if topic in set(admin.listTopics().names().get(10, seconds)):
            admin.deleteTopics(jvm.java.util.List.of(topic)).all().get(10, seconds)
            while topic in set(admin.listTopics().names().get(10, seconds)):
                time.sleep(0.2)
        created = jvm.org.apache.kafka.clients.admin.NewTopic(topic, partitions, 1)
        if configs:
            settings = jvm.java.util.HashMap()
            for key, value in configs.items():
                settings.put(key, value)
            created = created.configs(settings)
        deadline = time.monotonic() + 30
        while True:  # the deletion may still be finishing on the broker
            try:
                admin.createTopics(jvm.java.util.List.of(created)).all().get(10, seconds)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
    finally:
        admin.close()


def end_offsets(spark: SparkSession, bootstrap: str) -> dict[int, int]:
    """The next offset of every partition of ``user-events``."""
    jvm = spark._jvm
    assert jvm is not None
    admin = _admin(spark, bootstrap)
    try:
        wanted = jvm.java.util.HashMap()
        for partition in range(PARTITIONS):
            wanted.put(
                jvm.org.apache.kafka.common.TopicPartition(TOPIC, partition),
                jvm.org.apache.kafka.clients.admin.OffsetSpec.latest(),
            )
        found = admin.listOffsets(wanted).all().get(10, jvm.java.util.concurrent.TimeUnit.SECONDS)
        return {int(tp.partition()): int(found.get(tp).offset()) for tp in found.keySet()}
    finally:
        admin.close()


# ---- the producer process -------------------------------------------------------------------
class Producer:
    """``bench.producer`` in its own process, held at ``ready`` until :meth:`go`."""

    def __init__(self, bootstrap: str, rate: int, seconds: float) -> None:
        command = [
            sys.executable,
            "-m",
            "bench.producer",
            "--bootstrap",
            bootstrap,
            "--topic",
            TOPIC,
            "--rate",
            str(rate),
            "--seconds",
            str(seconds),
        ]
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, "SPARK_ETL_SCHEMAS_DIR": str(EXAMPLE / "schemas")},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self._expect("ready", 180)

    def _expect(self, word: str, timeout_s: float) -> str:
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line and self.process.poll() is not None:
                break
            if line.startswith(word):
                return line[len(word) :].strip()
        self.process.kill()
        raise RuntimeError(f"bench.producer did not say {word!r} (exit {self.process.poll()})")

    def go(self) -> None:
        """Start producing."""
        assert self.process.stdin is not None
        self.process.stdin.write("go\n")
        self.process.stdin.flush()
        self._expect("started", 60)

    def wait(self, timeout_s: float) -> dict[str, Any]:
        """Wait for the end of production; ``{"produced": N, "seconds": S}``."""
        summary = json.loads(self._expect("done", timeout_s))
        self.process.wait(60)
        return summary


# ---- consumers --------------------------------------------------------------------------------
def _run_pipeline(errors: list[BaseException], pipeline: StreamPipeline) -> None:
    """``kedro run --pipelines NAME [--env ENV]`` of the example in this process (on a thread;
    ``run_stream`` runs it from the example's folder, as the command line would)."""
    try:
        bootstrap_project(EXAMPLE)
        with KedroSession.create(project_path=EXAMPLE, env=pipeline.kedro_env) as session:
            session.run(pipeline_names=[pipeline.name], runner=RetryingRunner())
    except BaseException as exc:  # reported by the benchmark's thread
        errors.append(exc)


def _start_consumer(
    spark: SparkSession, env: dict[str, str], work: Path, plan: StreamPlan, errors: list[Any]
) -> threading.Thread:
    """The pipeline's run on a thread. It reads its declaration from the example's conf/ (as
    ``kedro run`` in the project does), so the process works from the example's folder until the
    query has started."""
    with connect_postgres(env) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {plan.pipeline.table}")
    with contextlib.chdir(EXAMPLE):
        consumer = threading.Thread(target=_run_pipeline, args=(errors, plan.pipeline), daemon=True)
        consumer.start()
        _wait_for_query(spark, plan.pipeline.query, errors)
    return consumer


def start_baseline(spark: SparkSession, env: dict[str, str], work: Path, trigger: str) -> None:
    """The hand-written job: Kafka -> from_avro -> the same windows -> upsert via psycopg."""
    schema = default_registry().get("user_event").avro_json
    with connect_postgres(env) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_event_counts_base")
        conn.execute(
            "CREATE TABLE bench_event_counts_base (window_start timestamptz, window_end "
            "timestamptz, event_type text, events bigint, "
            "PRIMARY KEY (window_start, window_end, event_type))"
        )
    events = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", env["SPARK_ETL_KAFKA_BOOTSTRAP"])
        .option("subscribe", TOPIC)
        .option("startingOffsets", "earliest")
        .option("maxOffsetsPerTrigger", env["SPARK_ETL_MAX_OFFSETS_PER_TRIGGER"])
        .load()
        .select(from_avro("value", schema).alias("e"))
        .select("e.*")
    )
    counts = (
        events.withWatermark("timestamp", "10 minutes")
        .groupBy(F.window("timestamp", "10 minutes", "5 minutes"), "event_type")
        .agg(F.count(F.lit(1)).alias("events"))
        .select(
            F.col("window.start").alias("window_start"),
            F.col("window.end").alias("window_end"),
            "event_type",
            "events",
        )
    )

    def upsert(batch: DataFrame, batch_id: int) -> None:
        rows = [tuple(r) for r in batch.collect()]  # one row per window and type: a few dozen
        with connect_postgres(env, autocommit=False) as conn, conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO bench_event_counts_base VALUES (%s, %s, %s, %s) ON CONFLICT "
                "(window_start, window_end, event_type) DO UPDATE SET events = EXCLUDED.events",
                rows,
            )

    (
        counts.writeStream.queryName(BASELINE_QUERY)
        .outputMode("update")
        .foreachBatch(upsert)
        .trigger(processingTime=trigger)
        .option("checkpointLocation", str(work / "baseline"))
        .start()
    )


@dataclass(frozen=True)
class StreamPipeline:
    """Which streaming pipeline of the example the framework's run is: its name, its sink's
    query and PostgreSQL table (dropped before the run), the Kedro environment it runs in
    (``None``: the project's default)."""

    name: str = "streaming_kafka_pg"
    query: str = PIPELINE_QUERY
    table: str = "event_counts"
    kedro_env: str | None = None


@dataclass(frozen=True)
class StreamPlan:
    """One streaming run: the producer's rate, how long it produces, the first seconds left out
    of the statistics (JIT, first fetches, state store creation), the consumer's trigger."""

    rate: int
    seconds: float = 60.0
    warmup_s: float = 30.0
    trigger: str = "1 second"
    on_decode_error: str = "dead_letter"
    #: the sink's small_batch_rows (0: every micro-batch through a staging table)
    small_batch_rows: int = DEFAULT_SMALL_BATCH_ROWS
    pipeline: StreamPipeline = StreamPipeline()


@contextlib.contextmanager
def environment(settings: dict[str, str]) -> Iterator[None]:
    """``settings`` in this process's environment while the block runs (the pipeline's catalog
    reads them, as ``kedro run`` would)."""
    saved = {k: os.environ.get(k) for k in settings}
    os.environ.update(settings)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def end_run(
    spark: SparkSession,
    consumer: threading.Thread | None,
    log: ProgressLog,
    producer: Producer,
) -> None:
    """Stop the run's queries gracefully, let the pipeline's thread end, stop listening, and
    stop the producer if it still runs."""
    stop_gracefully(list(spark.streams.active))
    if consumer is not None:
        consumer.join(120)
    spark.streams.removeListener(log)
    if producer.process.poll() is None:
        producer.process.kill()


#: What watches a run while the producer writes: given the run's progress log and the wall time
#: the producer started (epoch ms), a context manager entered for the production.
Watch = Callable[[ProgressLog, int], contextlib.AbstractContextManager[Any]]


def run_stream(
    spark: SparkSession,
    env: dict[str, str],
    work: Path,
    plan: StreamPlan,
    *,
    framework: bool,
    watch: Watch | None = None,
    period_s: float = 0,
) -> StreamResult:
    """One producer + consumer run; the consumer is the pipeline or (``framework=False``) the
    hand-written baseline. ``watch``: what samples the run while the producer writes;
    ``period_s``: the latency of each period of that many seconds too (see :func:`measure`)."""
    bootstrap = env["SPARK_ETL_KAFKA_BOOTSTRAP"]
    work.mkdir(parents=True, exist_ok=True)
    recreate_topic(spark, bootstrap)
    settings = {
        "SPARK_ETL_CHECKPOINTS": str(work / "checkpoints"),
        "SPARK_ETL_STREAM_TRIGGER": plan.trigger,
        "SPARK_ETL_ON_DECODE_ERROR": plan.on_decode_error,
        "SPARK_ETL_SMALL_BATCH_ROWS": str(plan.small_batch_rows),
        "SPARK_ETL_MAX_OFFSETS_PER_TRIGGER": str(plan.rate * 10),
        "SPARK_ETL_STREAMING_MAX_SECONDS": str(plan.seconds + 900),  # stopped once caught up
    }
    env = {**env, **settings}
    query_name = plan.pipeline.query if framework else BASELINE_QUERY
    log = ProgressLog(query_name)
    spark.streams.addListener(log)
    producer = Producer(bootstrap, plan.rate, plan.warmup_s + plan.seconds)
    errors: list[BaseException] = []
    consumer: threading.Thread | None = None
    with environment(settings):
        try:
            consumer = _start_consumer(spark, env, work, plan, errors) if framework else None
            if not framework:
                start_baseline(spark, env, work, plan.trigger)
            _wait_for_query(spark, query_name, errors)
            producer.go()
            started_ms = int(time.time() * 1000)
            with watch(log, started_ms) if watch else contextlib.nullcontext():
                summary = producer.wait(plan.warmup_s + plan.seconds + 300)
            target = end_offsets(spark, bootstrap)
            deadline = time.monotonic() + 300
            while any(log.consumed.get(p, 0) < end for p, end in target.items() if end):
                if errors or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
        finally:
            end_run(spark, consumer, log, producer)
    if errors:
        raise RuntimeError(f"{plan.pipeline.name} failed during the benchmark: {errors[0]}")
    since_ms = started_ms + int(plan.warmup_s * 1000)
    result = measure(spark, bootstrap, log.batches, since_ms, period_s=period_s)
    result.extra.update(
        {
            "producer": summary,
            "trigger": plan.trigger,
            "rate": plan.rate,
            "warmup_s": plan.warmup_s,
            "on_decode_error": plan.on_decode_error,
            "small_batch_rows": plan.small_batch_rows,
            "stages_ms_p50": _stage_medians(log.batches, since_ms),
        }
    )
    return result


def counted_events(env: dict[str, str], table: str) -> float:
    """The events a windowed sink's PostgreSQL ``table`` holds, each counted once (every event
    falls in two of the streaming pipelines' sliding windows: 10 minutes long, 5 apart)."""
    with connect_postgres(env) as conn:
        row = conn.execute(f"SELECT coalesce(sum(events), 0) FROM {table}").fetchone()
    assert row is not None
    return float(row[0]) / 2  # not rounded: an odd sum would show a window count is off


def _stage_medians(batches: list[Batch], since_ms: int) -> dict[str, int]:
    """Median milliseconds of each stage of the measured batches (Spark's ``durationMs``)."""
    measured = [b for b in batches if b.ended_ms >= since_ms]
    stages = sorted({k for b in measured for k in b.stages_ms})
    return {k: int(statistics.median(b.stages_ms.get(k, 0) for b in measured)) for k in stages}


def _wait_for_query(spark: SparkSession, name: str, errors: list[BaseException]) -> None:
    deadline = time.monotonic() + 300
    while not any(q.name == name for q in spark.streams.active):
        if errors:
            raise RuntimeError(f"the query {name} failed to start: {errors[0]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the query {name} did not start within 300 s")
        time.sleep(0.2)


def measure(
    spark: SparkSession,
    bootstrap: str,
    batches: list[Batch],
    since_ms: int,
    *,
    period_s: float = 0,
) -> StreamResult:
    """Match every record of the topic to the batch that made it visible; the statistics cover
    the records with an event time from ``since_ms`` on (after the warm-up). ``period_s``: also
    each period's records and latency, by event time from ``since_ms`` (``extra["periods"]``),
    all percentiles then approximate (a long run's records do not fit an exact percentile's
    buffers; ``percentile_approx``'s rank error is 1/10,000)."""
    matched = _matched(spark, bootstrap, batches, since_ms)
    pcts = F.array(F.lit(0.5), F.lit(0.95), F.lit(0.99))

    def pct(column: str) -> Any:
        if period_s:
            return F.percentile_approx(column, pcts, 10_000)
        return F.percentile(column, pcts)

    aggregates = [
        F.count(F.lit(1)).alias("records"),
        F.count("visible_ms").alias("visible"),
        pct("latency").alias("latency"),
        pct("append_latency").alias("append"),
        F.max("latency").alias("latency_max"),
        F.max("event_ms").alias("last_event"),
        F.max("visible_ms").alias("last_visible"),
    ]
    periods: list[dict[str, Any]] = []
    if period_s:
        period = F.floor((F.col("event_ms") - since_ms) / (period_s * 1000)).alias("period")
        rows = matched.rollup(period).agg(*aggregates).collect()
        row = next(r for r in rows if r["period"] is None)  # the rollup's grand total
        periods = [
            {
                "period": int(r["period"]),
                "records": r["records"],
                "not_visible": r["records"] - r["visible"],
                "latency_s": _pcts(r["latency"]),
            }
            for r in sorted((r for r in rows if r["period"] is not None), key=lambda r: r[0])
        ]
    else:
        found = matched.agg(*aggregates).first()
        assert found is not None
        row = found
    measured = [b for b in batches if b.ended_ms >= since_ms]
    durations = sorted(b.duration_ms / 1000 for b in measured)
    span = max((row["last_visible"] or 0) - since_ms, 1) / 1000
    produced_span = max((row["last_event"] or 0) - since_ms, 1) / 1000
    return StreamResult(
        records=row["records"],
        seconds=span,
        produced_rps=round(row["records"] / produced_span, 1),
        latency_s={**_pcts(row["latency"]), "max": round(row["latency_max"] or 0, 3)},
        append_latency_s=_pcts(row["append"]),
        batches=len(measured),
        batch_duration_s={
            "p50": durations[len(durations) // 2] if durations else 0.0,
            "max": durations[-1] if durations else 0.0,
        },
        not_visible=row["records"] - row["visible"],
        extra={"periods": periods} if period_s else {},
    )


#: Offsets per block of the match of records to batches.
_BLOCK = 100_000


def _matched(spark: SparkSession, bootstrap: str, batches: list[Batch], since_ms: int) -> DataFrame:
    """Each record from ``since_ms`` on with the time its batch ended (``visible_ms``, null for a
    record no batch held) and its latency from its event time and from its append."""
    schema = default_registry().get("user_event").avro_json
    records = (
        spark.read.format("kafka")
        .option("kafka.bootstrap.servers", bootstrap)
        .option("subscribe", TOPIC)
        .option("startingOffsets", "earliest")
        .option("endingOffsets", "latest")
        .load()
        .select(
            "partition",
            "offset",
            F.col("timestamp").alias("appended"),
            from_avro("value", schema).getField("timestamp").alias("event_time"),
        )
        .filter(F.unix_millis("event_time") >= since_ms)
    )
    # each range listed under every block of offsets it overlaps: a record is compared with the
    # few ranges of its own block, not with every batch of its partition (a soak has thousands)
    ranges = spark.createDataFrame(
        [
            (partition, start, end, batch.ended_ms)
            for batch in batches
            for partition, (start, end) in batch.ranges.items()
            if end > start
        ],
        "partition int, start long, end long, visible_ms long",
    ).withColumn(
        "block",
        F.explode(
            F.sequence(F.floor(F.col("start") / _BLOCK), F.floor((F.col("end") - 1) / _BLOCK))
        ),
    )
    records = records.withColumn("block", F.floor(F.col("offset") / _BLOCK))
    return records.join(
        F.broadcast(ranges),
        (records["partition"] == ranges["partition"])
        & (records["block"] == ranges["block"])
        & (records["offset"] >= ranges["start"])
        & (records["offset"] < ranges["end"]),
        "left",
    ).select(
        ((F.col("visible_ms") - F.unix_millis("event_time")) / 1000).alias("latency"),
        ((F.col("visible_ms") - F.unix_millis("appended")) / 1000).alias("append_latency"),
        F.unix_millis("event_time").alias("event_ms"),
        "visible_ms",
    )


def _pcts(values: list[float] | None) -> dict[str, float]:
    values = values or [0.0, 0.0, 0.0]
    return {k: round(v, 3) for k, v in zip(("p50", "p95", "p99"), values, strict=True)}
