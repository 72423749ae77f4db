"""State stores of incremental sources, on the real systems: a local folder, S3 (moto),
PostgreSQL and MariaDB; and the offset range of an incremental Kafka batch."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from spark_etl.datasets import StateEntry, StateSlot, state_store
from spark_etl.datasets._jdbc_cursor import Cursor
from spark_etl.datasets._kafka_offsets import EARLIEST, incremental_range, range_options
from spark_etl.datasets._s3_files import FileWindow
from spark_etl.datasets._state import FileStateStore, JDBCStateStore
from spark_etl.datasets.exceptions import DatasetConfigError
from spark_etl.exceptions import ConfigError
from spark_etl.runtime.state_hooks import IncrementalStateHooks

BUCKET = "spark-etl-test"


def entry(dataset: str, offset: int, pipeline: str = "nightly") -> StateEntry:
    return StateEntry(pipeline, dataset, {"events": {"0": offset}}, f"run-{offset}", "2026-12-01")


def exercise(store: Any) -> None:
    """What every store must do: read back, replace whole, list, delete one or all."""
    assert store.read("nightly", "events") is None
    store.write(entry("events", 10))
    store.write(entry("events", 25))  # replaces
    store.write(entry("orders", 3))
    store.write(entry("events", 7, pipeline="hourly"))
    assert store.read("nightly", "events") == entry("events", 25)
    assert [(e.pipeline, e.dataset) for e in store.entries()] == [
        ("hourly", "events"),
        ("nightly", "events"),
        ("nightly", "orders"),
    ]
    assert [e.dataset for e in store.entries("nightly")] == ["events", "orders"]
    assert store.delete("nightly", "orders") == 1
    assert store.delete("nightly") == 1
    assert store.entries() == [entry("events", 7, pipeline="hourly")]
    store.delete("hourly")


def test_a_local_folder_store(tmp_path: Path) -> None:
    exercise(FileStateStore(str(tmp_path / "state")))
    assert not list((tmp_path / "state").rglob(".state-*"))  # no temporary file left


def test_an_s3_store(spark: SparkSession, s3_credentials: dict[str, Any], unique_name: str) -> None:
    exercise(FileStateStore(f"s3a://{BUCKET}/{unique_name}/state/", s3_credentials))


def test_a_postgres_table_store(
    spark: SparkSession, services: dict[str, str], pg_credentials: dict[str, str], pg: Any
) -> None:
    table = "spark_etl_state_test"
    pg.execute(f"DROP TABLE IF EXISTS {table}")
    exercise(JDBCStateStore(services["SPARK_ETL_PG_URL"], pg_credentials, table))
    pg.execute(f"DROP TABLE {table}")


def test_a_mariadb_table_store(
    spark: SparkSession, services: dict[str, str], mysql_credentials: dict[str, str], mysql: Any
) -> None:
    table = "spark_etl_state_test"
    with mysql.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {table}")
    exercise(JDBCStateStore(services["SPARK_ETL_MYSQL_URL"], mysql_credentials, table))
    with mysql.cursor() as cur:
        cur.execute(f"DROP TABLE {table}")


def test_a_slot_commits_only_what_it_holds_and_a_full_refresh_ignores_the_store(
    tmp_path: Path,
) -> None:
    store = FileStateStore(str(tmp_path))
    store.write(entry("events", 40))
    slot = StateSlot(store, "nightly", "events")
    assert slot.committed() == {"events": {"0": 40}}
    assert slot.commit("r1") is None  # nothing held: nothing written
    slot.hold({"events": {"0": 55}})
    assert slot.commit("r2") is not None
    assert store.read("nightly", "events").position == {"events": {"0": 55}}
    assert StateSlot(store, "nightly", "events", full_refresh=True).committed() is None


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({}, "needs either path"),
        ({"path": "s3a://b/p/", "url": "jdbc:postgresql://h/db"}, "needs either path"),
        ({"path": "s3a://b/p/", "bucket": "x"}, "state has no option ['bucket']"),
        ({"path": "hdfs://nn/state/"}, "use s3a://bucket/prefix/ or a local folder"),
        ({"url": "jdbc:oracle:thin:@h:1521/x"}, "Unsupported JDBC URL scheme"),
    ],
)
def test_a_wrong_state_section_is_named(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(DatasetConfigError, match=re.escape(message)):
        state_store(settings, None)


def test_the_range_starts_at_the_committed_offsets_or_the_configured_start() -> None:
    end = {"t": {"0": 100, "1": 50}}
    assert incremental_range({"t": {"0": 60}}, end, "earliest") == (
        {"t": {"0": 60, "1": EARLIEST}},
        end,
    )
    assert incremental_range(None, end, "latest")[0] == {"t": {"0": 100, "1": 50}}
    assert incremental_range(None, end, {"t": {"1": 20}})[0] == {"t": {"0": EARLIEST, "1": 20}}
    options = range_options({"t": {"0": 60, "1": -2}}, end)
    assert options == {
        "assign": '{"t": [0, 1]}',
        "startingOffsets": '{"t": {"0": 60, "1": -2}}',
        "endingOffsets": '{"t": {"0": 100, "1": 50}}',
    }


def test_a_committed_offset_past_the_end_names_the_topic_and_what_to_do() -> None:
    with pytest.raises(DatasetConfigError) as caught:
        incremental_range({"t": {"0": 500}}, {"t": {"0": 20}}, "earliest")
    said = str(caught.value)
    assert said.startswith("Kafka topic 't' partition 0 ends at offset 20, before the committed")
    assert "kedro run --full-refresh" in said and "kedro state reset" in said


def test_an_incremental_source_without_a_store_is_a_configuration_error() -> None:
    class Incremental:
        incremental = True

        def attach_state(self, slot: Any) -> None:
            raise AssertionError("no slot without a store")

    class Catalog:
        def get(self, name: str) -> Any:
            return Incremental()

    hooks = IncrementalStateHooks()
    hooks.after_catalog_created(Catalog())  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"'events' is incremental but runtime\.yml names no"):
        hooks.before_dataset_loaded("events", node=None)  # type: ignore[arg-type]


def test_a_cursor_is_configured_plainly_or_named_with_its_mistake() -> None:
    assert Cursor.parse(None, "t") is None
    assert Cursor.parse({"cursor": "id", "lag": "5"}, "t") == Cursor("id", None, "5")
    for settings, message in [
        ({"column": "id"}, "incremental needs a cursor column"),
        ({"cursor": "id", "since": 3}, "incremental has no option ['since']"),
        ({"cursor": "id", "lag": "ten minutes"}, "incremental.lag 'ten minutes' is not a lag"),
        ({"cursor": "id; drop"}, "Invalid cursor column"),
    ]:
        with pytest.raises(DatasetConfigError, match=re.escape(message)):
            Cursor.parse(settings, "orders")


def test_a_cursor_reads_past_the_mark_up_to_the_maximum(spark: SparkSession) -> None:
    rows = spark.createDataFrame([(i, f"r{i}") for i in range(10)], "id long, name string")
    first, position, said = Cursor("id", initial="3").bounded(rows, None, "t")
    assert sorted(r.id for r in first.collect()) == [3, 4, 5, 6, 7, 8, 9]
    assert position == {"column": "id", "value": "9"} and said == "id >= 3, <= 9"
    lagging, _, _ = Cursor("id", lag="2").bounded(rows, {"value": "6"}, "t")
    assert sorted(r.id for r in lagging.collect()) == [5, 6, 7, 8, 9]
    with pytest.raises(DatasetConfigError, match="'name' is string; a cursor is a timestamp"):
        Cursor("name").bounded(rows, None, "t")
    with pytest.raises(DatasetConfigError, match="'nope' is not a column of the source"):
        Cursor("nope").bounded(rows, None, "t")
    with pytest.raises(DatasetConfigError, match="a numeric cursor's lag is a number"):
        Cursor("id", lag="2 hours").bounded(rows, {"value": "6"}, "t")
    empty, kept, said = Cursor("id").bounded(rows.limit(0), {"value": "6"}, "t")
    assert empty.count() == 0 and kept == {"value": "6"} and said.startswith("nothing")


def test_new_files_are_those_past_the_mark_or_unseen_within_the_lag() -> None:
    window = FileWindow.parse({"lag": "10 seconds"}, "s3a://b/p/")
    assert window == FileWindow(10_000)
    first, position = window.new_files([("a.csv", 100_000), ("b.csv", 105_000)], None)
    assert first == ["a.csv", "b.csv"]
    assert position == {"mtime": 105_000, "seen": ["a.csv", "b.csv"]}
    # a late upload with an older time, within the lag, is read; the ones seen are not
    listed = [("a.csv", 100_000), ("b.csv", 105_000), ("late.csv", 101_000), ("c.csv", 120_000)]
    again, position = window.new_files(listed, position)
    assert again == ["c.csv", "late.csv"]
    assert position == {"mtime": 120_000, "seen": ["c.csv"]}  # the window moved on
    assert window.new_files(listed, position) == ([], position)
    assert FileWindow.parse(True, "p") == FileWindow(15 * 60 * 1000)
    assert FileWindow.parse(None, "p") is None
    with pytest.raises(DatasetConfigError, match=r"incremental\.lag 'soon' is not a duration"):
        FileWindow.parse({"lag": "soon"}, "p")
