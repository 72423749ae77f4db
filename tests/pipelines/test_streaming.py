"""Streaming pipelines against the real broker, PostgreSQL and S3: exact results, restarts, late
data, dead letters. Bounded runs use the ``available-now`` trigger."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from databases import seq_scans
from kedro_run import (
    KEDRO,
    ROOT,
    Env,
    clear_prefix,
    json_events,
    local_stack,
    produce_events,
    reset_topic,
    run_pipeline,
    s3_client,
)
from pyspark.sql import SparkSession
from spark_etl_example.sample_data import UserEvent, connect_postgres, user_events

pytestmark = [pytest.mark.integration, pytest.mark.streaming]
FIVE_MIN = timedelta(minutes=5)
#: A stream of 2,000 records a second, its log as JSON lines: long enough to act on mid-run.
PACED_STREAM = {
    "SPARK_ETL_STREAM_TRIGGER": "1 second",
    "SPARK_ETL_MAX_OFFSETS_PER_TRIGGER": "2000",
    "SPARK_ETL_LOG_FORMAT": "json",
}


@pytest.fixture
def stream_env(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    services: dict[str, str],
    spark: SparkSession,
    pg: Any,
) -> Path:
    """Fresh checkpoints, topic and table; bounded (available-now) runs."""
    monkeypatch.setenv("SPARK_ETL_CHECKPOINTS", str(tmp_path / "checkpoints"))
    monkeypatch.setenv("SPARK_ETL_STREAM_TRIGGER", "available-now")
    reset_topic(spark, services["SPARK_ETL_KAFKA_BOOTSTRAP"], "user-events")
    pg.execute("DROP TABLE IF EXISTS event_counts")
    return tmp_path / "checkpoints"


def sorted_events(count: int, seed: int, start: datetime | None = None) -> list[UserEvent]:
    events = sorted(user_events(count, users=50, seed=seed), key=lambda e: e.timestamp)
    if start is None:
        return events
    shift = start - events[0].timestamp.replace(tzinfo=None)
    return [
        UserEvent(e.event_id, e.user_id, e.event_type, e.timestamp + shift, e.properties, e.amount)
        for e in events
    ]


def produce(spark: SparkSession, services: dict[str, str], events: list[UserEvent]) -> None:
    """Write the events to user-events in order."""
    produce_events(spark, services["SPARK_ETL_KAFKA_BOOTSTRAP"], events)


def expected_windows(events: list[UserEvent]) -> Counter[tuple[datetime, str]]:
    """Events per (window start, type): 10-minute windows sliding every 5 minutes."""
    counts: Counter[tuple[datetime, str]] = Counter()
    for e in events:
        ts = e.timestamp.replace(tzinfo=None)
        first = ts.replace(minute=ts.minute - ts.minute % 5, second=0)
        for start in (first, first - FIVE_MIN):
            counts[(start, e.event_type)] += 1
    return counts


def pg_windows(pg: Any) -> Counter[tuple[datetime, str]]:
    rows = pg.execute("SELECT window_start, window_end, event_type, events FROM event_counts")
    result: Counter[tuple[datetime, str]] = Counter()
    for start, end, event_type, events in rows.fetchall():
        assert end - start == timedelta(minutes=10)
        result[(start, event_type)] = events
    return result


def test_bounded_run_of_60k_events_gives_exact_window_counts(
    stream_env: Path,
    spark: SparkSession,
    services: dict[str, str],
    pg: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SPARK_ETL_MAX_OFFSETS_PER_TRIGGER", "20000")  # three micro-batches
    s3 = s3_client(services)
    clear_prefix(s3, "spark-etl-example-lake", "dead_letters/")
    events = sorted_events(60_000, seed=31)
    produce(spark, services, events)
    log = io.StringIO()

    run_pipeline("streaming_kafka_pg", log)

    assert pg_windows(pg) == expected_windows(events)
    # clean micro-batches leave nothing in the dead-letter queue: not even an empty commit
    assert (
        s3.list_objects_v2(Bucket="spark-etl-example-lake", Prefix="dead_letters/").get("KeyCount")
        == 0
    )
    batches = [
        e
        for e in json_events(log.getvalue())
        if e["event"] == "streaming_batch" and e["query"] == "event_counts_pg"
    ]
    assert sum(b["input_rows"] for b in batches) == 60_000
    assert batches[0]["latency_p95_s"] is not None and batches[0]["state_rows"] >= 0
    assert [e["status"] for e in json_events(log.getvalue()) if e["event"] == "run_end"] == [
        "success"
    ]


def test_undecodable_values_are_routed_by_the_jdbc_sinks_micro_batch(
    stream_env: Path, spark: SparkSession, services: dict[str, str], pg: Any
) -> None:
    """No side query: the sink's micro-batch routes the undecodable value to the run's
    dead-letter dataset (S3), and the windows count only the decodable events."""
    s3 = s3_client(services)
    clear_prefix(s3, "spark-etl-example-lake", "dead_letters/")
    events = sorted_events(1_000, seed=35)
    produce(spark, services, events[:500])
    (
        spark.createDataFrame([(b"not avro at all",)], "value binary")
        .write.format("kafka")
        .option("kafka.bootstrap.servers", services["SPARK_ETL_KAFKA_BOOTSTRAP"])
        .option("topic", "user-events")
        .save()
    )
    produce(spark, services, events[500:])
    log = io.StringIO()

    run_pipeline("streaming_kafka_pg", log)

    assert pg_windows(pg) == expected_windows(events)
    letters = spark.read.format("avro").load("s3a://spark-etl-example-lake/dead_letters/").collect()
    assert [bytes(r.payload) for r in letters] == [b"not avro at all"]
    assert letters[0].stage == "extract" and letters[0].pipeline == "streaming_kafka_pg"
    started = [e for e in json_events(log.getvalue()) if e["event"] == "streaming_start"]
    assert len(started) == 1  # the pipeline's own query only
    (end,) = [e for e in json_events(log.getvalue()) if e["event"] == "run_end"]
    assert end["status"] == "partial" and end["dead_letters"] == {"dead_letters": 1}


def test_late_data_beyond_the_watermark_is_dropped_and_counted(
    stream_env: Path, spark: SparkSession, services: dict[str, str], pg: Any
) -> None:
    on_time = sorted_events(500, seed=32, start=datetime(2026, 3, 1, 8, 0))
    produce(spark, services, on_time)
    run_pipeline("streaming_kafka_pg")
    newest = on_time[-1].timestamp.replace(tzinfo=None)
    # five late events in five distinct windows (Spark's partial aggregation merges rows of one
    # window and type before the state store counts what it drops)
    late = [
        UserEvent(
            f"late-{i}",
            "user-00001",
            "click",
            newest - timedelta(hours=2, minutes=15 * i),
            {},
            None,
        )
        for i in range(5)
    ]
    within = [
        UserEvent(f"ok-{i}", "user-00002", "purchase", newest - timedelta(minutes=3), {}, 1.0)
        for i in range(4)
    ]
    produce(spark, services, late + within)
    log = io.StringIO()

    run_pipeline("streaming_kafka_pg", log)

    assert pg_windows(pg) == expected_windows(on_time + within)  # the late ones are not there
    dropped = sum(
        e["late_rows_dropped"]
        for e in json_events(log.getvalue())
        if e["event"] == "streaming_batch"
    )
    assert dropped == 10  # 5 late events, each in two sliding windows


@pytest.mark.slow
def test_killed_driver_restarts_from_the_checkpoint_without_loss_or_duplicates(
    stream_env: Path, spark: SparkSession, services: dict[str, str], pg: Any
) -> None:
    events = sorted_events(30_000, seed=33)
    produce(spark, services, events)
    env = {
        **os.environ,
        "SPARK_ETL_STREAM_TRIGGER": "1 second",
        "SPARK_ETL_MAX_OFFSETS_PER_TRIGGER": "3000",
        "SPARK_ETL_LOG_FORMAT": "console",
    }
    commits = stream_env / "streaming_kafka_pg" / "sink" / "commits"
    driver = subprocess.Popen(
        [KEDRO, "run", "--pipelines", "streaming_kafka_pg"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 180
        while not (commits.is_dir() and len(list(commits.glob("[0-9]*"))) >= 2):
            assert driver.poll() is None, "the streaming run ended before it was killed"
            assert time.monotonic() < deadline, "no micro-batch was committed in time"
            time.sleep(0.5)
    finally:
        os.killpg(driver.pid, signal.SIGKILL)  # the driver dies mid-stream, no clean stop
        driver.wait()
    partial = pg_windows(pg)
    assert 0 < sum(partial.values()) < 2 * len(events)

    run_pipeline("streaming_kafka_pg")  # the same checkpoint: resumes where the driver died

    assert pg_windows(pg) == expected_windows(events)


def test_streaming_kafka_s3_archives_clean_events_exactly_once(
    stream_env: Path, spark: SparkSession, services: dict[str, str]
) -> None:
    s3 = s3_client(services)
    clear_prefix(s3, "spark-etl-example-lake", "events_archive/")
    clear_prefix(s3, "spark-etl-example-lake", "dead_letters/")
    events = sorted_events(1_000, seed=34)
    negative = [UserEvent("neg-1", "user-00003", "purchase", events[-1].timestamp, {}, -5.0)]
    produce(spark, services, events + events[:3] + negative)  # three duplicates, one invalid
    (
        spark.createDataFrame([(b"not avro at all",)], "value binary")
        .write.format("kafka")
        .option("kafka.bootstrap.servers", services["SPARK_ETL_KAFKA_BOOTSTRAP"])
        .option("topic", "user-events")
        .save()
    )

    run_pipeline("streaming_kafka_s3")
    run_pipeline("streaming_kafka_s3")  # nothing new: nothing written twice

    archive = spark.read.format("avro").load("s3a://spark-etl-example-lake/events_archive/")
    ids = [r.event_id for r in archive.select("event_id").collect()]
    assert sorted(ids) == sorted(e.event_id for e in events)
    letters = spark.read.format("avro").load("s3a://spark-etl-example-lake/dead_letters/").collect()
    assert [bytes(r.payload) for r in letters] == [b"not avro at all"]
    assert letters[0].stage == "extract" and "undecodable avro value" in letters[0].error


@pytest.mark.slow
def test_broker_restart_is_survived_and_sigterm_stops_cleanly(
    stream_env: Path, spark: SparkSession, services: dict[str, str], pg: Any
) -> None:
    """Kafka goes down and comes back while the query runs; the run recovers without losing a
    record, then SIGTERM stops it after its current micro-batch with exit code 0."""
    events = sorted_events(20_000, seed=35)
    produce(spark, services, events)
    env = {**os.environ, **PACED_STREAM}
    commits = stream_env / "streaming_kafka_pg" / "sink" / "commits"
    log = stream_env.parent / "driver.log"
    driver = stream_driver(log, env)
    try:
        wait_for(lambda: commits.is_dir() and len(list(commits.glob("[0-9]*"))) >= 2, driver)
        local_stack("down", "kafka")
        local_stack("up", "kafka")
        wait_for(lambda: sum(pg_windows(pg).values()) == 2 * len(events), driver, 300)
        driver.send_signal(signal.SIGTERM)
        assert driver.wait(timeout=120) == 0
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
    assert pg_windows(pg) == expected_windows(events)
    kinds = [e["event"] for e in json_events(log.read_text())]
    assert "streaming_stop" in kinds and kinds[-1] == "run_end"


def test_max_duration_on_the_command_line_stops_the_stream_and_the_start_lines_say_so(
    stream_env: Path, spark: SparkSession, services: dict[str, str], pg: Any
) -> None:
    """``kedro run --max-duration 20s`` of a stream that would run until stopped: the start
    lines say the trigger and how the run ends, and it ends by itself after its batch."""
    events = sorted_events(4_000, seed=37)
    produce(spark, services, events)
    log = stream_env.parent / "driver.log"
    started = time.monotonic()
    driver = stream_driver(log, {**os.environ, **PACED_STREAM}, "--max-duration", "20s")
    try:
        assert driver.wait(timeout=300) == 0, log.read_text()[-3000:]
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
    assert time.monotonic() - started < 240
    said = json_events(log.read_text())
    (trigger,) = [e for e in said if e["event"] == "streaming_trigger"]
    assert trigger["trigger"] == {"processingTime": "1 second"}
    assert trigger["default_trigger"] is False
    assert "a micro-batch every 1 second" in trigger["message"]
    (running,) = [e for e in said if e["event"] == "streaming_running"]
    assert running["max_duration_s"] == 20.0
    assert "stop after 20 s (max duration), or on Ctrl-C or SIGTERM" in running["message"]
    assert [e["status"] for e in said if e["event"] == "run_end"] == ["success"]
    assert sum(pg_windows(pg).values()) == 2 * len(events)


@pytest.mark.parametrize("cache", [None, {"refresh": "1h", "broadcast": True}])
def test_reference_data_joined_into_a_stream_is_read_once_when_cached(
    cache: dict[str, Any] | None,
    stream_env: Path,
    spark: SparkSession,
    services: dict[str, str],
    pg: Any,
    conf_env: Env,
) -> None:
    """A PostgreSQL table joined into a stream (stream-static join): without ``cache`` each
    micro-batch scans it again; with it the server sees one scan, and every event still gets
    its user's segment."""
    events = sorted_events(10_000, seed=38)
    produce(spark, services, events)
    users = sorted({e.user_id for e in events})
    ref, out = f"ref_segments_{conf_env.name}", f"enriched_{conf_env.name}"
    pg.execute(f"DROP TABLE IF EXISTS {ref}")
    pg.execute(f"CREATE TABLE {ref} (user_id text PRIMARY KEY, segment text NOT NULL)")
    with pg.cursor() as cur:
        cur.executemany(
            f"INSERT INTO {ref} VALUES (%s, %s)", [(u, f"seg-{i % 3}") for i, u in enumerate(users)]
        )
    pg.execute(f"DROP TABLE IF EXISTS {out}")
    segments = {
        "type": "spark_etl.datasets.JDBCDataset",
        "url": services["SPARK_ETL_PG_URL"],
        "table": ref,
        "credentials": "postgres",
    }
    conf_env.write(
        "catalog.yml",
        {
            "user_segments": {**segments, **({"cache": cache} if cache else {})},
            "enriched_events": {
                "type": "spark_etl.datasets.JDBCDataset",
                "url": services["SPARK_ETL_PG_URL"],
                "table": out,
                "credentials": "postgres",
                "write_mode": "append",
                "streaming": {
                    "checkpoint_location": str(stream_env / "enriched"),
                    "trigger": "1 second",
                    "query_name": "enriched_events",
                },
            },
        },
    )
    conf_env.write(
        "pipelines/enrich_events.yml",
        {
            "id": "enrich_events",
            "sources": ["event_stream_live", "user_segments"],
            "steps": [
                {
                    "transform": "join",
                    "params": {"on": ["user_id"], "how": "left"},
                    "inputs": {"right": "user_segments"},
                },
                {"transform": "select", "params": {"columns": ["event_id", "user_id", "segment"]}},
            ],
            "sink": {"dataset": "enriched_events", "write_mode": "append"},
        },
    )
    scans = seq_scans(pg, ref)
    run = conf_env.run(
        "enrich_events",
        "--max-duration",
        "25s",
        environ={"SPARK_ETL_MAX_OFFSETS_PER_TRIGGER": "1000"},
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    batches = pg.execute(f"SELECT count(DISTINCT event_id), count(*) FROM {out}").fetchone()
    assert tuple(batches) == (len(events), len(events))  # every event once
    want = {u: f"seg-{i % 3}" for i, u in enumerate(users)}
    wrong = pg.execute(f"SELECT user_id, segment FROM {out}").fetchall()
    assert all(want[u] == seg for u, seg in wrong)
    scanned = seq_scans(pg, ref) - scans
    if cache:
        # the load's read and one more by the run, however many micro-batches ran (the dataset's
        # own loads and joins in one process scan it once: tests/datasets/test_cache.py)
        assert scanned <= 2
    else:
        assert scanned >= 10  # one per micro-batch: 10,000 events, 1,000 a batch


def test_a_max_duration_that_is_no_length_of_time_is_refused_before_anything_starts() -> None:
    refused = subprocess.run(
        [KEDRO, "run", "--pipelines", "streaming_kafka_pg", "--max-duration", "soon"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert refused.returncode == 2
    assert "Invalid value for '--max-duration': 'soon' is not a duration" in refused.stderr
    assert "Traceback" not in refused.stderr


@pytest.mark.slow
def test_a_stream_pauses_while_postgres_is_down_and_resumes_exactly(
    stream_env: Path, spark: SparkSession, services: dict[str, str], conf_env: Env
) -> None:
    """PostgreSQL stops while the query runs: the micro-batch's write opens the circuit and
    the query waits (it does not fail, and is not restarted), probing; PostgreSQL starts again,
    a probe succeeds, and every window lands exactly once."""
    events = sorted_events(20_000, seed=36)
    produce(spark, services, events)
    conf_env.write(
        "runtime.yml",
        {"circuit_breaker": {"failures": 1, "cooldown": "3s", "stream_retry": "1s"}},
    )
    env = {**os.environ, **PACED_STREAM}
    commits = stream_env / "streaming_kafka_pg" / "sink" / "commits"
    log = stream_env.parent / "driver.log"

    def circuit() -> list[str]:
        return [e["state"] for e in json_events(log.read_text()) if e["event"] == "circuit_breaker"]

    driver = stream_driver(log, env, "--env", conf_env.name)
    try:
        wait_for(lambda: commits.is_dir() and len(list(commits.glob("[0-9]*"))) >= 2, driver)
        local_stack("down", "postgres")
        try:  # opened, and a probe failed: the query waits on a stopped server
            wait_for(lambda: circuit()[:3] == ["open", "half_open", "open"], driver, 120)
        finally:
            local_stack("up", "postgres")
        with connect_postgres(services) as pg:
            wait_for(lambda: sum(pg_windows(pg).values()) == 2 * len(events), driver, 300)
            driver.send_signal(signal.SIGTERM)
            assert driver.wait(timeout=120) == 0
            assert pg_windows(pg) == expected_windows(events)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
    said = json_events(log.read_text())
    assert circuit()[-1] == "closed"
    assert not [e for e in said if e["event"] in ("retry", "attempt_failed")]  # never restarted
    assert [e["status"] for e in said if e["event"] == "run_end"] == ["success"]


def stream_driver(log: Path, env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    """``kedro run --pipelines streaming_kafka_pg ARGS`` in the background (its own process
    group), its output in ``log``."""
    with log.open("w") as out:
        return subprocess.Popen(
            [KEDRO, "run", "--pipelines", "streaming_kafka_pg", *args],
            cwd=ROOT,
            env=env,
            start_new_session=True,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def wait_for(ready: Any, driver: subprocess.Popen[bytes], seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while not ready():
        assert driver.poll() is None, "the streaming run ended early"
        assert time.monotonic() < deadline, "timed out"
        time.sleep(1)


def test_local_checkpoints_are_renamed_in_process(spark: SparkSession, tmp_path: Path) -> None:
    """conf/base/spark.yml picks the FileSystem-based checkpoint manager (the test session takes
    it from there, and so does every stream of the suite, the killed driver's included): Spark
    resolves it for a local checkpoint, and it writes a file atomically. (FileContext's manager
    forks `readlink` for each rename on the local filesystem.)"""
    jvm = spark._jvm
    assert jvm is not None
    conf = spark._jsparkSession.sessionState().newHadoopConf()
    path = jvm.org.apache.hadoop.fs.Path(f"file://{tmp_path}/offsets")
    manager = (
        jvm.org.apache.spark.sql.execution.streaming.checkpointing.CheckpointFileManager.create(
            path, conf
        )
    )
    assert manager.getClass().getSimpleName() == "FileSystemBasedCheckpointFileManager"
    manager.mkdirs(path)
    target = jvm.org.apache.hadoop.fs.Path(f"file://{tmp_path}/offsets/0")
    stream = manager.createAtomic(target, False)
    stream.write(b"v1\n")
    stream.close()
    assert (tmp_path / "offsets" / "0").read_bytes() == b"v1\n"
