"""``upsert_statement: merge``: PostgreSQL's MERGE commits the upsert, against the real server;
what MERGE refuses (a key twice in the batch, a key another transaction inserts meanwhile) is
named or committed again with ``INSERT ... ON CONFLICT``."""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime
from typing import Any

import psycopg
import pytest
from databases import Database, tables_of
from kedro.io import DatasetError
from pyspark.sql import DataFrame, SparkSession
from spark_etl_example.sample_data import connect_postgres

from spark_etl.datasets import JDBCDataset, _jdbc_connection
from spark_etl.datasets.exceptions import DatasetConfigError

pytestmark = pytest.mark.integration

SCHEMA = "id string, qty long, price double, updated_at timestamp"
T0 = datetime(2026, 1, 1, 12, 0, 0)
T1 = datetime(2026, 1, 2, 12, 0, 0)
RETRIED = "committing with INSERT ... ON CONFLICT instead"


@pytest.fixture
def pgdb(pg: psycopg.Connection[Any], services: dict[str, str], pg_credentials: Any) -> Database:
    def run(sql: str) -> list[tuple[Any, ...]]:
        cur = pg.execute(sql)
        return list(cur.fetchall()) if cur.description else []

    return Database("postgresql", services["SPARK_ETL_PG_URL"], pg_credentials, run)


def frame(spark: SparkSession, rows: list[tuple[Any, ...]]) -> DataFrame:
    return spark.createDataFrame(rows, SCHEMA)


def merging(db: Database, table: str, statement: str = "merge", **kwargs: Any) -> JDBCDataset:
    return JDBCDataset(
        url=db.url,
        table=table,
        credentials=db.credentials,
        write_mode="upsert",
        key_columns=["id"],
        audit_columns=["updated_at"],
        upsert_statement=statement,
        **kwargs,
    )


@pytest.mark.parametrize("bulk_load", [False, True], ids=["inserts", "bulk"])
def test_merge_upserts_like_on_conflict(
    spark: SparkSession,
    pgdb: Database,
    unique_name: str,
    bulk_load: bool,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same batches through MERGE and through ON CONFLICT leave the same rows, with the same
    counts: inserts, updates, and rows whose only change is an audit column left alone."""
    later = datetime(2026, 3, 1)
    batches = [
        [("a", 1, 1.5, T0), ("b", 2, 2.5, T0)],
        [("a", 10, 1.5, T1)],
        [("b", 20, 2.5, T1), ("c", 3, None, T1)],
        [("b", 20, 2.5, later), ("c", 3, None, later), ("d", 4, 4.5, later)],
    ]
    expected = [
        [("a", 1, 1.5, T0), ("b", 2, 2.5, T0)],
        [("a", 10, 1.5, T1), ("b", 2, 2.5, T0)],
        [("a", 10, 1.5, T1), ("b", 20, 2.5, T1), ("c", 3, None, T1)],
        [("a", 10, 1.5, T1), ("b", 20, 2.5, T1), ("c", 3, None, T1), ("d", 4, 4.5, later)],
    ]
    counts: dict[str, list[str]] = {}
    sent: list[str] = []
    execute = _jdbc_connection.execute  # every commit's statements run through it
    monkeypatch.setattr(
        _jdbc_connection, "execute", lambda conn, sql: sent.append(sql) or execute(conn, sql)
    )
    for statement in ("merge", "on_conflict"):
        table = f"{unique_name}_{statement}"
        ds = merging(pgdb, table, statement, bulk_load=bulk_load)
        caplog.clear()
        sent.clear()
        with caplog.at_level(logging.INFO, logger="spark_etl.datasets.jdbc"):
            for batch, rows in zip(batches, expected, strict=True):
                ds.save(frame(spark, batch))
                assert pgdb.rows(table) == rows, statement
        counts[statement] = [
            r.getMessage() for r in caplog.records if r.getMessage().startswith("Wrote to")
        ]
        assert not [r for r in caplog.records if RETRIED in r.getMessage()]
        committed = [sql.split(" ")[0] for sql in sent if f'"{table}" AS t' in sql]
        assert committed == ["MERGE" if statement == "merge" else "INSERT"] * len(batches)
    assert [m.split(": ")[1] for m in counts["merge"]] == [
        "2 rows affected",
        "1 rows affected",
        "2 rows affected",
        "1 rows affected",
    ]
    assert [m.split(": ")[1] for m in counts["merge"]] == [
        m.split(": ")[1] for m in counts["on_conflict"]
    ]


def test_merge_of_a_table_whose_columns_are_all_key_inserts_new_keys_only(
    spark: SparkSession, pgdb: Database, unique_name: str
) -> None:
    ds = JDBCDataset(
        url=pgdb.url,
        table=unique_name,
        credentials=pgdb.credentials,
        write_mode="upsert",
        key_columns=["id", "day"],
        upsert_statement="merge",
    )
    ds.save(spark.createDataFrame([("a", 1), ("b", 1)], "id string, day int"))
    ds.save(spark.createDataFrame([("a", 1), ("a", 2)], "id string, day int"))
    assert pgdb.run(f"SELECT id, day FROM {unique_name} ORDER BY id, day") == [
        ("a", 1),
        ("a", 2),
        ("b", 1),
    ]


@pytest.mark.parametrize(
    "batch",
    [
        [("a", 2, 1.0, T1), ("a", 3, 1.0, T1), ("b", 1, 1.0, T1)],  # MERGE: 21000
        [("n", 2, 1.0, T1), ("n", 3, 1.0, T1), ("b", 1, 1.0, T1)],  # MERGE: 23505
    ],
    ids=["key-in-target", "new-key"],
)
def test_merge_names_a_key_repeated_in_the_batch_and_writes_nothing(
    spark: SparkSession,
    pgdb: Database,
    unique_name: str,
    batch: list[tuple[Any, ...]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """MERGE fails on a repeated key that is in the target (cardinality) and on a new one (the
    primary key); either way the batch is refused naming the key, and nothing is written."""
    ds = merging(pgdb, unique_name)
    ds.save(frame(spark, [("a", 1, 1.0, T0)]))
    key = batch[0][0]
    with (
        caplog.at_level(logging.INFO, logger="spark_etl.datasets.jdbc"),
        pytest.raises(DatasetError, match=rf"same key more than once \(id='{key}' \(2x\)\)"),
    ):
        ds.save(frame(spark, batch))
    assert pgdb.rows(unique_name) == [("a", 1, 1.0, T0)]
    assert [t for t in tables_of(pgdb) if t.startswith(unique_name + "__stg")] == []
    assert len([r for r in caplog.records if RETRIED in r.getMessage()]) == 1


def test_a_key_inserted_by_another_transaction_during_the_merge_is_updated_instead(
    spark: SparkSession,
    pgdb: Database,
    services: dict[str, str],
    unique_name: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Another writer inserts key 'n' and commits while MERGE waits on it: MERGE fails on the
    primary key (ON CONFLICT would have updated the row), so the commit is done again with
    ON CONFLICT and the batch's values win, once."""
    ds = merging(pgdb, unique_name)
    ds.save(frame(spark, [("a", 1, 1.0, T0)]))
    other, watcher = connect_postgres(services, autocommit=False), connect_postgres(services)
    original = JDBCDataset._commit_from_staging

    waited: list[bool] = []

    def commit_once_merge_waits() -> None:
        deadline = time.monotonic() + 60
        try:
            while time.monotonic() < deadline and not waited:
                row = watcher.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND query LIKE 'MERGE INTO%'"
                ).fetchone()
                if row and row[0]:
                    waited.append(True)
                time.sleep(0.05)
        finally:
            other.commit()  # whatever happened: MERGE must not wait forever

    commit_later = threading.Thread(target=commit_once_merge_waits)

    def other_writer_first(self: JDBCDataset, *args: Any) -> None:
        # uncommitted when MERGE starts: MERGE does not see it, then waits on its key
        other.execute(f"INSERT INTO {unique_name} VALUES ('n', 99, 9.0, '2026-01-01')")
        commit_later.start()
        original(self, *args)

    monkeypatch.setattr(JDBCDataset, "_commit_from_staging", other_writer_first)
    try:
        with caplog.at_level(logging.INFO, logger="spark_etl.datasets.jdbc"):
            ds.save(frame(spark, [("a", 2, 2.0, T1), ("n", 3, 3.0, T1)]))
    finally:
        commit_later.join()
        other.close()
        watcher.close()
    assert waited, "MERGE never waited on the other writer's key"
    assert pgdb.rows(unique_name) == [("a", 2, 2.0, T1), ("n", 3, 3.0, T1)]
    retried = [r.getMessage() for r in caplog.records if RETRIED in r.getMessage()]
    assert len(retried) == 1
    assert "duplicate key value violates unique constraint" in retried[0]


@pytest.mark.parametrize(
    ("url", "statement", "write_mode", "message"),
    [
        ("jdbc:postgresql://h/db", "upsert", "upsert", "unknown upsert_statement 'upsert'"),
        ("jdbc:mysql://h/db", "merge", "upsert", "merge is for PostgreSQL; mysql upserts"),
        ("jdbc:postgresql://h/db", "merge", "append", "write_mode is 'append'; set write_mode"),
    ],
)
def test_merge_settings_that_cannot_apply_are_refused(
    url: str, statement: str, write_mode: str, message: str
) -> None:
    keys = {"key_columns": ["id"]} if write_mode == "upsert" else {}
    with pytest.raises(DatasetConfigError, match=message):
        JDBCDataset(url=url, table="t", write_mode=write_mode, upsert_statement=statement, **keys)


class _Meta:
    """The metadata of a PostgreSQL 14 server. Stand-in: only PostgreSQL 15 (Debian's) runs
    here, and MERGE came with 15."""

    def getDatabaseMajorVersion(self) -> int:
        return 14

    def getDatabaseProductVersion(self) -> str:
        return "14.12"


class _Conn:
    def getMetaData(self) -> _Meta:
        return _Meta()


def test_merge_on_a_server_before_postgresql_15_is_refused_naming_its_version() -> None:
    ds = JDBCDataset(
        url="jdbc:postgresql://h/db",
        table="t",
        write_mode="upsert",
        key_columns=["id"],
        upsert_statement="merge",
    )
    assert "upsert_statement='merge'" in repr(ds)
    with pytest.raises(
        DatasetConfigError, match=r"needs PostgreSQL 15 or later; the server runs 14\.12"
    ):
        ds._check_merge_supported(_Conn())
