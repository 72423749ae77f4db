"""write_mode: scd2 on the real PostgreSQL and MariaDB servers and on a Delta table of the real
S3 server: every version read back, exactly."""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

import pytest
from databases import Database, tables_of
from kedro.io import DatasetError
from pyspark.sql import SparkSession

from spark_etl.datasets import DeltaDataset, JDBCDataset
from spark_etl.datasets.exceptions import DatasetConfigError, WriteRejectedError

pytestmark = pytest.mark.integration

SCHEMA = "customer_id string, name string, city string"
FIRST = [("c1", "Alice", "Paris"), ("c2", "Bob", "Rome")]
SECOND = [("c1", "Alice", "Lyon"), ("c2", "Bob", "Rome"), ("c3", "Cara", "Oslo")]


def versions_sql(table: str) -> str:
    return (
        f"SELECT customer_id, city, is_current, valid_to IS NULL, valid_from, valid_to "
        f"FROM {table} ORDER BY customer_id, valid_from"
    )


def shape(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Key, city, current, open: and each closed version ends where the next one starts."""
    for (key, _, _, _, _, end), (next_key, _, _, _, start, _) in itertools.pairwise(rows):
        if key == next_key:
            assert end == start, f"{key}: a closed version ends at {end}, the next starts {start}"
    return [(r[0], r[1], bool(r[2]), bool(r[3])) for r in rows]


def jdbc_dim(db: Database, table: str, **scd2: Any) -> JDBCDataset:
    return JDBCDataset(
        url=db.url,
        table=table,
        credentials=db.credentials,
        write_mode="scd2",
        key_columns=["customer_id"],
        scd2=scd2 or None,
    )


def test_jdbc_scd2_opens_closes_and_keeps_versions(
    spark: SparkSession, db: Database, unique_name: str
) -> None:
    dim = jdbc_dim(db, unique_name)
    dim.save(spark.createDataFrame(FIRST, SCHEMA))
    dim.save(spark.createDataFrame(SECOND, SCHEMA))
    expected = [
        ("c1", "Paris", False, False),
        ("c1", "Lyon", True, True),
        ("c2", "Rome", True, True),
        ("c3", "Oslo", True, True),
    ]
    assert shape(db.run(versions_sql(unique_name))) == expected
    before = db.run(versions_sql(unique_name))
    dim.save(spark.createDataFrame(SECOND, SCHEMA))  # a re-run: nothing changes
    assert db.run(versions_sql(unique_name)) == before


def test_jdbc_scd2_deletes_close_the_missing_keys(
    spark: SparkSession, db: Database, unique_name: str
) -> None:
    dim = jdbc_dim(db, unique_name, deletes="close")
    dim.save(spark.createDataFrame(FIRST, SCHEMA))
    dim.save(spark.createDataFrame([("c1", "Alice", "Paris")], SCHEMA))
    assert shape(db.run(versions_sql(unique_name))) == [
        ("c1", "Paris", True, True),
        ("c2", "Rome", False, False),
    ]


def test_jdbc_scd2_effective_from_and_tracked_columns(
    spark: SparkSession, db: Database, unique_name: str
) -> None:
    schema = SCHEMA + ", changed_at timestamp"
    dim = jdbc_dim(db, unique_name, effective_from="changed_at", tracked_columns=["city"])
    dim.save(spark.createDataFrame([("c1", "Alice", "Paris", datetime(2026, 1, 1))], schema))
    # a new name alone is not tracked: no new version
    dim.save(spark.createDataFrame([("c1", "Alicia", "Paris", datetime(2026, 2, 1))], schema))
    dim.save(spark.createDataFrame([("c1", "Alice", "Lyon", datetime(2026, 3, 1))], schema))
    rows = db.run(versions_sql(unique_name))
    assert shape(rows) == [("c1", "Paris", False, False), ("c1", "Lyon", True, True)]
    assert [r[4].replace(tzinfo=None) for r in rows] == [datetime(2026, 1, 1), datetime(2026, 3, 1)]


def test_jdbc_scd2_refuses_a_repeated_key(
    spark: SparkSession, db: Database, unique_name: str
) -> None:
    dim = jdbc_dim(db, unique_name)
    dim.save(spark.createDataFrame(FIRST, SCHEMA))
    with pytest.raises(DatasetError) as raised:
        dim.save(spark.createDataFrame([("c1", "A", "X"), ("c1", "B", "Y")], SCHEMA))
    assert isinstance(raised.value.__cause__, WriteRejectedError)
    assert "customer_id='c1' (2x)" in str(raised.value)
    assert len(db.run(versions_sql(unique_name))) == 2


def test_jdbc_scd2_bulk_load_refuses_a_repeated_key_and_leaves_no_staging(
    spark: SparkSession, db: Database, unique_name: str
) -> None:
    # PostgreSQL stages an SCD2 batch unkeyed and keys it once loaded: the repeated key is named
    # all the same, and the dimension is untouched
    dim = JDBCDataset(
        url=db.url,
        table=unique_name,
        credentials=db.credentials,
        write_mode="scd2",
        key_columns=["customer_id"],
        bulk_load=True,
    )
    dim.save(spark.createDataFrame(FIRST, SCHEMA))
    with pytest.raises(DatasetError) as raised:
        dim.save(spark.createDataFrame([*SECOND, ("c3", "Cara", "Bergen")], SCHEMA))
    assert isinstance(raised.value.__cause__, WriteRejectedError)
    assert "customer_id='c3' (2x)" in str(raised.value)
    assert shape(db.run(versions_sql(unique_name))) == [
        ("c1", "Paris", True, True),
        ("c2", "Rome", True, True),
    ]
    assert [t for t in tables_of(db) if t.startswith(unique_name)] == [unique_name]
    dim.save(spark.createDataFrame(SECOND, SCHEMA))
    assert shape(db.run(versions_sql(unique_name))) == [
        ("c1", "Paris", False, False),
        ("c1", "Lyon", True, True),
        ("c2", "Rome", True, True),
        ("c3", "Oslo", True, True),
    ]


def test_jdbc_scd2_a_null_tracked_value_is_unchanged_when_still_null(
    spark: SparkSession, db: Database, unique_name: str
) -> None:
    dim = jdbc_dim(db, unique_name)
    dim.save(spark.createDataFrame([("c1", "Alice", None), ("c2", "Bob", "Rome")], SCHEMA))
    dim.save(spark.createDataFrame([("c1", "Alice", None), ("c2", "Bob", None)], SCHEMA))
    assert shape(db.run(versions_sql(unique_name))) == [
        ("c1", None, True, True),
        ("c2", "Rome", False, False),
        ("c2", None, True, True),
    ]


def test_pg_scd2_keeps_a_unique_index_of_the_current_versions(
    spark: SparkSession,
    pg: Any,
    pg_credentials: dict[str, str],
    services: dict[str, str],
    unique_name: str,
) -> None:
    # one current version per key, enforced by the table: the version a change replaces is
    # closed before its successor is opened
    pg.execute(
        f"CREATE TABLE {unique_name} (customer_id text NOT NULL, name text, city text, "
        "valid_from timestamp NOT NULL, valid_to timestamp, is_current boolean NOT NULL)"
    )
    pg.execute(f"CREATE UNIQUE INDEX ON {unique_name} (customer_id) WHERE is_current")
    db = Database("postgresql", services["SPARK_ETL_PG_URL"], pg_credentials, lambda _: [])
    dim = jdbc_dim(db, unique_name)
    dim.save(spark.createDataFrame(FIRST, SCHEMA))
    dim.save(spark.createDataFrame(SECOND, SCHEMA))
    rows = pg.execute(versions_sql(unique_name)).fetchall()
    assert shape(rows) == [
        ("c1", "Paris", False, False),
        ("c1", "Lyon", True, True),
        ("c2", "Rome", True, True),
        ("c3", "Oslo", True, True),
    ]


def test_delta_scd2_opens_closes_and_keeps_versions(
    spark: SparkSession, s3_credentials: dict[str, Any], unique_name: str
) -> None:
    path = f"s3a://spark-etl-test/delta/{unique_name}/"
    dim = DeltaDataset(
        path=path,
        credentials=s3_credentials,
        write_mode="scd2",
        key_columns=["customer_id"],
        scd2={"deletes": "close"},
    )
    dim.save(spark.createDataFrame(FIRST, SCHEMA))
    assert dim.last_save is not None and dim.last_save.records == 2
    dim.save(spark.createDataFrame(SECOND, SCHEMA))
    # the batch's rows, though the MERGE's source holds c1's changed row twice
    assert dim.last_save.records == 3
    spark.read.format("delta").load(path).createOrReplaceTempView(unique_name)
    rows = [tuple(r) for r in spark.sql(versions_sql(unique_name)).collect()]
    assert shape(rows) == [
        ("c1", "Paris", False, False),
        ("c1", "Lyon", True, True),
        ("c2", "Rome", True, True),
        ("c3", "Oslo", True, True),
    ]
    versions = len(dim.history())
    dim.save(spark.createDataFrame(SECOND, SCHEMA))  # a re-run: no new version of the table
    assert len(dim.history()) == versions
    assert dim.last_save.records == 3
    dim.save(spark.createDataFrame([("c3", "Cara", "Oslo")], SCHEMA))  # c1, c2 deleted
    assert dim.last_save.records == 1
    spark.read.format("delta").load(path).createOrReplaceTempView(unique_name)
    rows = [tuple(r) for r in spark.sql(versions_sql(unique_name)).collect()]
    assert shape(rows) == [
        ("c1", "Paris", False, False),
        ("c1", "Lyon", False, False),
        ("c2", "Rome", False, False),
        ("c3", "Oslo", True, True),
    ]


def test_scd2_settings_are_checked() -> None:
    with pytest.raises(DatasetConfigError, match="needs write_mode: scd2"):
        DeltaDataset(path="/tmp/x", scd2={"deletes": "close"})
    with pytest.raises(DatasetConfigError, match=r"scd2.deletes"):
        DeltaDataset(path="/tmp/x", write_mode="scd2", key_columns=["k"], scd2={"deletes": "drop"})
    with pytest.raises(DatasetConfigError, match="needs key_columns"):
        DeltaDataset(path="/tmp/x", write_mode="scd2")


def test_a_missing_effective_from_column_is_named_before_anything_is_written(
    spark: SparkSession, tmp_path: Any
) -> None:
    dim = DeltaDataset(
        path=str(tmp_path / "dim"),
        write_mode="scd2",
        key_columns=["customer_id"],
        scd2={"effective_from": "changed_at"},
    )
    with pytest.raises(DatasetError) as raised:
        dim.save(spark.createDataFrame(FIRST, SCHEMA))
    assert isinstance(raised.value.__cause__, DatasetConfigError)
    assert "scd2.effective_from 'changed_at' is not in the data" in str(raised.value)
    assert not dim.exists()
