"""DeltaDataset against the real S3 API server of the local stack (moto in server mode).

Every test reads the table back (through the dataset and through Delta's own history) and
asserts exact rows, versions and commit metrics.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from delta.tables import DeltaTable
from kedro.io import DatasetError
from pyspark.sql import SparkSession
from pyspark.testing import assertDataFrameEqual

from spark_etl.datasets import DeltaDataset
from spark_etl.datasets._delta_lease import LeaseSettings, TableLease
from spark_etl.datasets._s3_location import S3Location
from spark_etl.datasets.exceptions import (
    DatasetConfigError,
    SourceMissingError,
    TableBusyError,
    TableSchemaChangedError,
    WriteRejectedError,
)

pytestmark = pytest.mark.integration

BUCKET = "spark-etl-test"
SUPPORT = Path(__file__).resolve().parents[1] / "support"
SCHEMA = "id string, amount long, day string, loaded_at timestamp"
T0 = datetime(2026, 1, 1, 0, 0)
T1 = datetime(2026, 1, 2, 0, 0)


@pytest.fixture
def path(unique_name: str) -> str:
    return f"s3a://{BUCKET}/delta/{unique_name}/"


def table(spark: SparkSession, rows: list[tuple[Any, ...]], schema: str = SCHEMA) -> Any:
    return spark.createDataFrame(rows, schema)


def history(spark: SparkSession, path: str) -> list[Any]:
    """The table's commits, oldest first."""
    rows = DeltaTable.forPath(spark, path).history().orderBy("version").collect()
    return [(r["version"], r["operation"], r["operationMetrics"]) for r in rows]


def rows_of(ds: DeltaDataset) -> list[tuple[Any, ...]]:
    return sorted(tuple(r) for r in ds.load().collect())


def test_append_twice_then_overwrite(
    spark: SparkSession, s3_credentials: dict[str, Any], path: str
) -> None:
    ds = DeltaDataset(path=path, credentials=s3_credentials)
    assert not ds.exists()
    first = table(spark, [("a", 1, "d1", T0), ("b", 2, "d1", T0)])
    ds.save(first)
    ds.save(first)
    assert ds.exists()
    assert ds.load().count() == 4
    assert ds.last_save is not None and ds.last_save.records == 2
    DeltaDataset(path=path, write_mode="overwrite", credentials=s3_credentials).save(
        table(spark, [("c", 3, "d2", T1)])
    )
    assert rows_of(ds) == [("c", 3, "d2", T1)]
    assert [op for _, op, _ in history(spark, path)] == ["WRITE", "WRITE", "WRITE"]


def test_vacuum_lists_a_small_table_in_few_tasks_and_keeps_the_session_s_setting(
    spark: SparkSession, s3_credentials: dict[str, Any], path: str
) -> None:
    """Spark's folder-listing parallelism (10,000) would make VACUUM of a small table run
    thousands of empty tasks; the dataset lowers it for its own command only."""
    ds = DeltaDataset(path=path, credentials=s3_credentials)
    ds.save(table(spark, [("a", 1, "d1", T0)]))
    ds.save(table(spark, [("b", 2, "d1", T0)]))
    context = spark.sparkContext
    group = f"vacuum-{uuid.uuid4().hex[:6]}"
    context.setJobGroup(group, "the vacuum under test")
    try:
        ds.vacuum()
    finally:
        context.setLocalProperty("spark.jobGroup.id", None)  # type: ignore[arg-type]
    tracker = context.statusTracker()
    tasks = [
        tracker.getStageInfo(stage).numTasks
        for job in tracker.getJobIdsForGroup(group)
        for stage in tracker.getJobInfo(job).stageIds
    ]
    # the most a stage runs is Delta's own snapshot partitioning (50), not thousands
    assert tasks and max(tasks) <= 50, tasks
    listing = "spark.sql.sources.parallelPartitionDiscovery.parallelism"
    assert spark.conf.get(listing) == "10000" and spark.conf.get(listing, None) is None
    assert sorted(r.id for r in ds.load().collect()) == ["a", "b"]


def test_overwrite_replace_where_and_dynamic_partitions(
    spark: SparkSession, s3_credentials: dict[str, Any], path: str
) -> None:
    rows = [("a", 1, "d1", T0), ("b", 2, "d2", T0), ("c", 3, "d3", T0)]
    DeltaDataset(path=path, credentials=s3_credentials, partition_by=["day"]).save(
        table(spark, rows)
    )
    DeltaDataset(
        path=path,
        write_mode="overwrite",
        replace_where="day = 'd2'",
        credentials=s3_credentials,
    ).save(table(spark, [("b2", 20, "d2", T1)]))
    reader = DeltaDataset(path=path, credentials=s3_credentials)
    assert rows_of(reader) == [("a", 1, "d1", T0), ("b2", 20, "d2", T1), ("c", 3, "d3", T0)]
    DeltaDataset(
        path=path,
        write_mode="overwrite",
        save_args={"partitionOverwriteMode": "dynamic"},
        credentials=s3_credentials,
    ).save(table(spark, [("c2", 30, "d3", T1), ("e", 5, "d5", T1)]))
    assert rows_of(reader) == [
        ("a", 1, "d1", T0),
        ("b2", 20, "d2", T1),
        ("c2", 30, "d3", T1),
        ("e", 5, "d5", T1),
    ]


def test_replace_where_data_outside_the_predicate_is_refused(
    spark: SparkSession, s3_credentials: dict[str, Any], path: str
) -> None:
    DeltaDataset(path=path, credentials=s3_credentials).save(table(spark, [("a", 1, "d1", T0)]))
    ds = DeltaDataset(
        path=path, write_mode="overwrite", replace_where="day = 'd2'", credentials=s3_credentials
    )
    with pytest.raises(DatasetError):
        ds.save(table(spark, [("x", 9, "d1", T1)]))
    assert rows_of(DeltaDataset(path=path, credentials=s3_credentials)) == [("a", 1, "d1", T0)]


def upserter(path: str, credentials: dict[str, Any], **extra: Any) -> DeltaDataset:
    return DeltaDataset(
        path=path,
        write_mode="upsert",
        key_columns=["id"],
        audit_columns=["loaded_at"],
        credentials=credentials,
        **extra,
    )


def test_upsert_updates_changed_rows_inserts_new_and_leaves_the_rest(
    spark: SparkSession, s3_credentials: dict[str, Any], path: str
) -> None:
    ds = upserter(path, s3_credentials)
    ds.save(table(spark, [("a", 1, "d1", T0), ("b", 2, "d1", T0), ("c", 3, "d1", T0)]))
    # b changes; c comes again unchanged (only its audit column differs); d is new
    batch = table(spark, [("b", 20, "d1", T1), ("c", 3, "d1", T1), ("d", 4, "d2", T1)])
    ds.save(batch)
    assert rows_of(ds) == [
        ("a", 1, "d1", T0),
        ("b", 20, "d1", T1),
        ("c", 3, "d1", T0),
        ("d", 4, "d2", T1),
    ]
    version, operation, metrics = history(spark, path)[-1]
    assert (version, operation) == (1, "MERGE")
    assert metrics["numTargetRowsUpdated"] == "1"
    assert metrics["numTargetRowsInserted"] == "1"
    # deletion vectors: the rows of b's and c's file that did not change are not copied
    assert metrics["numTargetRowsCopied"] == "0"
    assert ds.last_save is not None and ds.last_save.records == 3
    # the same batch again: no row changes, and no new version of the table
    ds.save(batch)
    assert len(history(spark, path)) == 2
    assert ds.last_save.records == 3
    assert len(rows_of(ds)) == 4


def test_an_upsert_of_keys_alone_inserts_the_new_keys_and_counts_the_batch(
    spark: SparkSession, s3_credentials: dict[str, Any], path: str
) -> None:
    # no column but the key to compare: the MERGE only inserts (Delta's insert-only path)
    ds = DeltaDataset(
        path=path, write_mode="upsert", key_columns=["id"], credentials=s3_credentials
    )
    ds.save(spark.createDataFrame([("a",), ("b",)], "id STRING"))
    ds.save(spark.createDataFrame([("b",), ("c",), ("d",)], "id STRING"))
    assert rows_of(ds) == [("a",), ("b",), ("c",), ("d",)]
    assert ds.last_save is not None and ds.last_save.records == 3


def test_an_empty_batch_upserts_nothing_and_does_not_fail(
    spark: SparkSession, s3_credentials: dict[str, Any], path: str
) -> None:
    # an incremental source with nothing new hands the sink an empty batch every quiet night
    ds = upserter(path, s3_credentials)
    ds.save(table(spark, [("a", 1, "d1", T0)]))
    ds.save(table(spark, []))
    assert rows_of(ds) == [("a", 1, "d1", T0)]
    assert len(history(spark, path)) == 1
    assert ds.last_save is not None and ds.last_save.records in (0, None)


def test_upsert_refuses_a_repeated_key_naming_it_and_writes_nothing(
    spark: SparkSession, s3_credentials: dict[str, Any], path: str
) -> None:
    ds = upserter(path, s3_credentials)
    ds.save(table(spark, [("a", 1, "d1", T0)]))
    batch = table(spark, [("a", 5, "d1", T1), ("n", 1, "d1", T1), ("n", 2, "d1", T1)])
    with pytest.raises(DatasetError) as raised:
        ds.save(batch)
    assert isinstance(raised.value.__cause__, WriteRejectedError)
    assert "id='n' (2x)" in str(raised.value)
    assert "set dedup_order_by" in str(raised.value)
    assert len(history(spark, path)) == 1
    assert rows_of(ds) == [("a", 1, "d1", T0)]


def test_a_first_upsert_with_a_repeated_key_creates_no_table(
    spark: SparkSession, s3_credentials: dict[str, Any], path: str
) -> None:
    ds = upserter(path, s3_credentials)
    with pytest.raises(DatasetError, match="id='n' \\(2x\\)"):
        ds.save(table(spark, [("n", 1, "d1", T1), ("n", 2, "d1", T1)]))
    assert not ds.exists()


def test_upsert_dedup_order_by_keeps_the_latest_row(
    spark: SparkSession, s3_credentials: dict[str, Any], path: str
) -> None:
    ds = upserter(path, s3_credentials, dedup_order_by="loaded_at")
    ds.save(table(spark, [("a", 1, "d1", T0)]))
    ds.save(table(spark, [("a", 7, "d1", T1), ("a", 6, "d1", T0)]))
    assert rows_of(ds) == [("a", 7, "d1", T1)]


def test_time_travel_by_version_and_timestamp(
    spark: SparkSession, s3_credentials: dict[str, Any], path: str
) -> None:
    ds = upserter(path, s3_credentials)
    ds.save(table(spark, [("a", 1, "d1", T0)]))
    first_commit = DeltaTable.forPath(spark, path).history(1).first()["timestamp"]
    time.sleep(1.1)  # commit timestamps have millisecond precision; keep the two apart
    ds.save(table(spark, [("a", 2, "d1", T1)]))
    at_zero = DeltaDataset(path=path, credentials=s3_credentials, load_args={"versionAsOf": 0})
    assert rows_of(at_zero) == [("a", 1, "d1", T0)]
    at_time = DeltaDataset(
        path=path,
        credentials=s3_credentials,
        load_args={"timestampAsOf": first_commit.strftime("%Y-%m-%d %H:%M:%S.%f")},
    )
    assert rows_of(at_time) == [("a", 1, "d1", T0)]
    assert rows_of(ds) == [("a", 2, "d1", T1)]
    assert [h["version"] for h in ds.history()] == [1, 0]
    too_far = DeltaDataset(path=path, credentials=s3_credentials, load_args={"versionAsOf": 9})
    with pytest.raises(DatasetError) as raised:
        too_far.load()
    message = str(raised.value)
    assert f"DeltaDataset '{path}': cannot read the table as of versionAsOf=9" in message
    assert "kedro spark-etl delta history" in message


def test_a_new_column_is_refused_unless_the_schema_may_evolve(
    spark: SparkSession, s3_credentials: dict[str, Any], path: str
) -> None:
    ds = upserter(path, s3_credentials)
    ds.save(table(spark, [("a", 1, "d1", T0)]))
    wider = table(spark, [("a", 2, "d1", T1, "EUR")], SCHEMA + ", currency string")
    with pytest.raises(DatasetError) as raised:
        ds.save(wider)
    assert isinstance(raised.value.__cause__, TableSchemaChangedError)
    assert "(new: currency)" in str(raised.value)
    assert "schema_evolution: true" in str(raised.value)
    assert len(history(spark, path)) == 1
    upserter(path, s3_credentials, schema_evolution=True).save(wider)
    assert rows_of(ds) == [("a", 2, "d1", T1, "EUR")]


def test_a_changed_type_is_refused_even_with_evolution(
    spark: SparkSession, s3_credentials: dict[str, Any], path: str
) -> None:
    DeltaDataset(path=path, credentials=s3_credentials).save(table(spark, [("a", 1, "d1", T0)]))
    retyped = table(
        spark, [("a", "1", "d1", T0)], "id string, amount string, day string, loaded_at timestamp"
    )
    ds = DeltaDataset(path=path, credentials=s3_credentials, schema_evolution=True)
    with pytest.raises(DatasetError, match=r"changed type: amount \(bigint -> string\)"):
        ds.save(retyped)


def test_a_missing_table_is_named(s3_credentials: dict[str, Any], path: str) -> None:
    with pytest.raises(DatasetError) as raised:
        DeltaDataset(path=path, credentials=s3_credentials).load()
    assert isinstance(raised.value.__cause__, SourceMissingError)
    assert f"there is no Delta table at '{path}'" in str(raised.value)


def test_configuration_mistakes_are_named() -> None:
    with pytest.raises(DatasetConfigError, match="replace_where needs write_mode: overwrite"):
        DeltaDataset(path="/tmp/x", replace_where="day = 'd1'")
    with pytest.raises(DatasetConfigError, match="needs key_columns"):
        DeltaDataset(path="/tmp/x", write_mode="upsert")
    with pytest.raises(DatasetConfigError, match="writer_lease is true, false"):
        DeltaDataset(path="/tmp/x", writer_lease={"ttl": "1m", "wiat": "1m"})
    with pytest.raises(DatasetConfigError, match="keep one"):
        DeltaDataset(path="/tmp/x", load_args={"versionAsOf": 1, "timestampAsOf": "2026-01-01"})


def test_a_replayed_micro_batch_is_written_once(
    spark: SparkSession, s3_credentials: dict[str, Any], path: str, tmp_path: Any
) -> None:
    streaming = {"checkpoint_location": str(tmp_path / "ckpt")}
    appender = DeltaDataset(path=path, credentials=s3_credentials, streaming=streaming)
    batch = table(spark, [("a", 1, "d1", T0), ("b", 2, "d1", T0)])
    appender._save_micro_batch(batch, 0)
    appender._save_micro_batch(batch, 0)  # Spark replays a batch it did not mark done
    appender._save_micro_batch(batch, 1)
    assert appender.load().count() == 4
    ups = upserter(path.rstrip("/") + "_ups/", s3_credentials, streaming=streaming)
    ups._save_micro_batch(batch, 0)
    ups._save_micro_batch(table(spark, [("a", 10, "d1", T1)]), 1)
    ups._save_micro_batch(table(spark, [("a", 99, "d1", T1)]), 1)  # the replay: skipped
    assert rows_of(ups) == [("a", 10, "d1", T1), ("b", 2, "d1", T0)]
    assert [op for _, op, _ in history(spark, path.rstrip("/") + "_ups/")] == ["WRITE", "MERGE"]


def lease(
    spark: SparkSession, path: str, credentials: dict[str, Any], **settings: float
) -> TableLease:
    return TableLease(
        spark, S3Location(path, credentials), LeaseSettings(**settings), what="another writer"
    )


def test_a_write_waits_for_another_writer_then_runs(
    spark: SparkSession, s3_credentials: dict[str, Any], path: str
) -> None:
    ds = DeltaDataset(path=path, credentials=s3_credentials, writer_lease={"wait": "60s"})
    ds.save(table(spark, [("a", 1, "d1", T0)]))
    held, release = threading.Event(), threading.Event()

    def other_writer() -> None:
        with lease(spark, path, s3_credentials).held():
            held.set()
            release.wait(30)

    other = threading.Thread(target=other_writer)
    other.start()
    assert held.wait(30)
    started = time.monotonic()
    threading.Timer(3.0, release.set).start()
    ds.save(table(spark, [("b", 2, "d1", T0)]))
    waited = time.monotonic() - started
    other.join()
    assert waited >= 2.5, "the write did not wait for the other writer's lease"
    assert ds.load().count() == 2


def test_a_write_gives_up_naming_the_holder(
    spark: SparkSession, s3_credentials: dict[str, Any], path: str
) -> None:
    ds = DeltaDataset(path=path, credentials=s3_credentials, writer_lease={"wait": "2s"})
    with lease(spark, path, s3_credentials).held(), pytest.raises(DatasetError) as raised:
        ds.save(table(spark, [("a", 1, "d1", T0)]))
    assert isinstance(raised.value.__cause__, TableBusyError)
    message = str(raised.value)
    assert f"the Delta table '{path}' is being written by process" in message
    assert spark.sparkContext.applicationId in message
    assert "waited 2 s" in message
    assert not ds.exists()


def test_the_lease_of_a_writer_that_died_is_taken_over(
    spark: SparkSession, s3_credentials: dict[str, Any], path: str, caplog: Any
) -> None:
    dead = lease(spark, path, s3_credentials, ttl_s=1.0)
    etag = dead._acquire_s3()  # acquired, never renewed nor released: the holder died
    assert etag
    time.sleep(1.5)
    ds = DeltaDataset(path=path, credentials=s3_credentials, writer_lease={"wait": "30s"})
    ds.save(table(spark, [("a", 1, "d1", T0)]))
    assert ds.load().count() == 1
    assert any(getattr(r, "event", None) == "delta_lease_taken_over" for r in caplog.records)


def test_a_local_table_takes_a_file_lock(spark: SparkSession, tmp_path: Any) -> None:
    path = str(tmp_path / "local_table")
    ds = DeltaDataset(path=path, writer_lease={"wait": "1s"})
    ds.save(table(spark, [("a", 1, "d1", T0)]))
    other = TableLease(spark, S3Location(path), LeaseSettings(), what="another writer")
    with other.held(), pytest.raises(DatasetError, match="is being written by process"):
        ds.save(table(spark, [("b", 2, "d1", T0)]))
    ds.save(table(spark, [("b", 2, "d1", T0)]))
    assertDataFrameEqual(ds.load(), table(spark, [("a", 1, "d1", T0), ("b", 2, "d1", T0)]))


def test_two_processes_appending_to_one_table_lose_no_commit(
    spark: SparkSession, s3_credentials: dict[str, Any], path: str
) -> None:
    """Another process (its own Spark driver) and this one append to one table at once: every
    commit of both is in the table's history and every row is read back. Both start appending
    when the other's session is up, and each appends the same number of times (however fast
    either machine's JVM is)."""
    batches, rows = 6, 50
    env = {
        **os.environ,
        "DELTA_WRITER_CREDENTIALS": json.dumps(s3_credentials),
        "PYTHONPATH": str(SUPPORT),
    }
    other = subprocess.Popen(
        [sys.executable, str(SUPPORT / "delta_writer.py"), path, "100000", str(batches), str(rows)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert other.stdin is not None and other.stdout is not None
    ds = DeltaDataset(path=path, credentials=s3_credentials, writer_lease={"wait": "5m"})
    mine = batches
    try:
        ready = other.stdout.readline()  # '' if it died before its session was up
        assert ready == "ready\n", ready + other.communicate(timeout=60)[1][-3000:]
        other.stdin.write("go\n")
        other.stdin.flush()
        for batch in range(mine):
            start = batch * rows
            ds.save(spark.range(start, start + rows).selectExpr("id", "'test' AS source"))
        out, err = other.communicate(timeout=300)
    finally:
        other.kill()
    assert other.returncode == 0, err[-3000:]
    assert out.strip() == "done"
    read = ds.load()
    assert read.count() == (mine + batches) * rows
    assert read.select("id").distinct().count() == (mine + batches) * rows
    assert read.filter("source = 'writer'").count() == batches * rows
    assert [v for v, _, _ in history(spark, path)] == list(range(mine + batches))


def test_a_stream_killed_after_its_sink_committed_writes_the_batch_once_on_restart(
    spark: SparkSession, tmp_path: Any
) -> None:
    """A real streaming query (its own driver) dies right after the sink's commit of batch 0,
    before Spark marks the batch done; restarted from its checkpoint, it replays batch 0, which
    Delta finds committed for the query already (txnAppId/txnVersion) and skips."""
    source, table_path, checkpoint = tmp_path / "in", tmp_path / "table", tmp_path / "ckpt"
    source.mkdir()
    (source / "part-0.json").write_text(
        "\n".join(json.dumps({"id": i, "v": "first"}) for i in (1, 2, 3)) + "\n"
    )
    (source / "part-1.json").write_text(
        "\n".join(json.dumps({"id": i, "v": "second"}) for i in (3, 4, 5)) + "\n"
    )
    # a file source takes its files oldest first: part-0 is batch 0, part-1 batch 1
    now = time.time()
    os.utime(source / "part-0.json", (now - 60, now - 60))
    env = {**os.environ, "PYTHONPATH": str(SUPPORT)}
    command = [sys.executable, str(SUPPORT / "delta_stream_writer.py"), str(source)]
    command += [str(table_path), str(checkpoint)]

    killed = subprocess.run(
        [*command, "--die-after-first-batch"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert killed.returncode == 137, killed.stderr[-3000:]
    assert killed.stdout.strip() == "batch 0 written"
    assert (checkpoint / "offsets" / "0").is_file()
    assert not (checkpoint / "commits" / "0").exists()  # Spark will replay batch 0
    assert len(history(spark, str(table_path))) == 1

    restarted = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert restarted.returncode == 0, restarted.stderr[-3000:]
    assert restarted.stdout.strip() == "done"
    rows = spark.read.format("delta").load(str(table_path)).orderBy("id").collect()
    assert [(r["id"], r["v"]) for r in rows] == [
        (1, "first"),
        (2, "first"),
        (3, "second"),
        (4, "second"),
        (5, "second"),
    ]
    # batch 0's replay committed nothing: the first write, then batch 1's MERGE
    assert [op for _, op, _ in history(spark, str(table_path))] == ["WRITE", "MERGE"]
