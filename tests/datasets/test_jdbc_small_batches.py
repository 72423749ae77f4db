"""Small streaming micro-batches written to PostgreSQL in one statement from the driver
(``small_batch_rows``, ``spark_etl.datasets._jdbc_direct``), against the real servers: what they
store equals what the staging path stores, and larger batches, other write modes and MariaDB keep
the staging table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from databases import Database
from pyspark.sql import SparkSession
from test_jdbc_bulk import AWKWARD, TYPES, awkward_rows, new_york_jvm, stored

from spark_etl.datasets import JDBCDataset
from spark_etl.datasets.exceptions import DatasetConfigError, WriteRejectedError

pytestmark = pytest.mark.integration

__all__ = ["new_york_jvm"]  # the fixture, used by name


class Staged:
    """Counts the batches a sink wrote through its staging table."""

    def __init__(self, sink: JDBCDataset, monkeypatch: pytest.MonkeyPatch) -> None:
        self.batches = 0
        stage = sink._stage

        def counted(*args: Any) -> None:
            self.batches += 1
            stage(*args)

        monkeypatch.setattr(sink, "_stage", counted)


def sink(db: Database, table: str, **kwargs: Any) -> JDBCDataset:
    """A sink that writes micro-batches of up to 10,000 rows in one statement (the setting is
    off by default)."""
    settings = {"small_batch_rows": 10_000, **kwargs}
    return JDBCDataset(url=db.url, table=table, credentials=db.credentials, **settings)


@pytest.fixture
def pg_db(services: dict[str, str], pg: Any, pg_credentials: dict[str, str]) -> Database:
    def run(sql: str) -> list[tuple[Any, ...]]:
        cur = pg.execute(sql)
        return list(cur.fetchall()) if cur.description else []

    return Database("postgresql", services["SPARK_ETL_PG_URL"], pg_credentials, run)


def test_a_small_micro_batch_stores_what_the_staging_table_stores(
    spark: SparkSession,
    pg_db: Database,
    unique_name: str,
    new_york_jvm: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every type, every awkward string, NULLs in every column, nested values as jsonb, in a
    JVM whose time zone is not UTC: the one-statement write stores exactly what the staging
    table's write stores."""
    batch = spark.createDataFrame(awkward_rows(), TYPES).repartition(3)
    sink(pg_db, f"{unique_name}_staged", small_batch_rows=0).save(batch)
    direct = sink(pg_db, f"{unique_name}_direct")
    staged = Staged(direct, monkeypatch)
    direct._save_micro_batch(batch, 0)

    assert staged.batches == 0
    by_staging = stored(pg_db, f"{unique_name}_staged")
    by_statement = stored(pg_db, f"{unique_name}_direct")
    assert len(by_statement) == len(AWKWARD) + 2
    assert by_statement == by_staging
    strings = {row[0]: row[1] for row in by_statement}
    assert [strings[f"k{i:02d}"] for i in range(len(AWKWARD))] == AWKWARD


def test_a_small_upsert_updates_only_changed_rows_and_a_replay_changes_nothing(
    spark: SparkSession, pg_db: Database, unique_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    schema = "id string, qty long, updated_at timestamp"
    ds = sink(
        pg_db,
        unique_name,
        write_mode="upsert",
        key_columns=["id"],
        audit_columns=["updated_at"],
    )
    staged = Staged(ds, monkeypatch)
    first, later = datetime(2026, 1, 1), datetime(2026, 6, 1)
    ds._save_micro_batch(spark.createDataFrame([("a", 1, first), ("b", 2, first)], schema), 0)
    changes = spark.createDataFrame([("a", 1, later), ("b", 20, later), ("c", 3, later)], schema)
    ds._save_micro_batch(changes, 1)
    ds._save_micro_batch(changes, 1)  # the same batch id again, as after a restart

    assert staged.batches == 0
    assert pg_db.run(f"SELECT id, qty, updated_at FROM {unique_name} ORDER BY id") == [
        ("a", 1, first),  # unchanged: its audit column too
        ("b", 20, later),
        ("c", 3, later),
    ]


def test_a_key_twice_in_a_small_batch_is_named_and_nothing_is_written(
    spark: SparkSession, pg_db: Database, unique_name: str
) -> None:
    ds = sink(pg_db, unique_name, write_mode="upsert", key_columns=["id"])
    ds._save_micro_batch(spark.createDataFrame([("a", 1)], "id string, qty long"), 0)
    twice = spark.createDataFrame([("a", 5), ("b", 2), ("b", 3)], "id string, qty long")
    with pytest.raises(WriteRejectedError, match=r"id='b' \(2x\)"):
        ds._save_micro_batch(twice, 1)
    assert pg_db.run(f"SELECT id, qty FROM {unique_name}") == [("a", 1)]


def test_a_value_the_table_refuses_rejects_the_small_batch_as_a_whole(
    spark: SparkSession, pg_db: Database, unique_name: str
) -> None:
    """A string too long for the column is refused, not cut to fit (no cast shortens it)."""
    pg_db.run(f"CREATE TABLE {unique_name} (id varchar(3) PRIMARY KEY, qty int)")
    ds = sink(pg_db, unique_name, write_mode="upsert", key_columns=["id"])
    rows = spark.createDataFrame([("ok", 1), ("toolong", 2)], "id string, qty long")
    with pytest.raises(WriteRejectedError, match=r"SQLState 22001.*Nothing was written"):
        ds._save_micro_batch(rows, 0)
    assert pg_db.run(f"SELECT count(*) FROM {unique_name}") == [(0,)]


def test_batches_over_small_batch_rows_go_through_the_staging_table(
    spark: SparkSession, pg_db: Database, unique_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch over the limit is staged; so is the next (its commit says how many rows it
    wrote); once a batch is small again, the one after it is written in one statement."""
    ds = sink(pg_db, unique_name, write_mode="upsert", key_columns=["id"], small_batch_rows=3)
    staged = Staged(ds, monkeypatch)

    def batch(first: int, rows: int) -> Any:
        return spark.createDataFrame(
            [(f"k{i}", i) for i in range(first, first + rows)], "id string, qty long"
        )

    ds._save_micro_batch(batch(0, 5), 0)
    assert staged.batches == 1
    ds._save_micro_batch(batch(5, 2), 1)  # after a large batch: staged, and counted
    assert staged.batches == 2
    ds._save_micro_batch(batch(7, 3), 2)  # after a small one: one statement
    assert staged.batches == 2
    assert pg_db.run(f"SELECT count(*), sum(qty) FROM {unique_name}") == [(10, sum(range(10)))]


@pytest.mark.parametrize("db", ["mysql"], indirect=True)
def test_mariadb_other_write_modes_and_the_default_keep_the_staging_table(
    spark: SparkSession, db: Database, pg_db: Database, unique_name: str, monkeypatch: Any
) -> None:
    rows = spark.createDataFrame([("a", 1)], "id string, qty long")
    for ds in (
        sink(db, unique_name, write_mode="upsert", key_columns=["id"]),
        sink(pg_db, unique_name, write_mode="overwrite"),
        JDBCDataset(
            url=pg_db.url, table=f"{unique_name}_none", credentials=pg_db.credentials
        ),  # the default: off
    ):
        staged = Staged(ds, monkeypatch)
        ds._save_micro_batch(rows, 0)
        assert staged.batches == 1
    assert db.run(f"SELECT id, qty FROM {unique_name}") == [("a", 1)]
    assert pg_db.run(f"SELECT id, qty FROM {unique_name}_none") == [("a", 1)]


@pytest.mark.parametrize("value", [-1, "many", "-5", 2.5, True])
def test_a_bad_small_batch_rows_is_refused(value: Any) -> None:
    with pytest.raises(DatasetConfigError, match="JDBCDataset 't': small_batch_rows must be a"):
        JDBCDataset(url="jdbc:postgresql://h/db", table="t", small_batch_rows=value)


def test_small_batch_rows_from_an_environment_variable_is_a_number() -> None:
    """``${oc.env:...}`` in the catalog hands over text."""
    ds = JDBCDataset(url="jdbc:postgresql://h/db", table="t", small_batch_rows="250")
    assert ds._small.max_rows == 250
