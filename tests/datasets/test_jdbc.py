"""JDBCDataset against the real PostgreSQL and MariaDB servers of the local stack."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from databases import Database, tables_of
from kedro.io import DatasetError
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from spark_etl.contracts import ContractViolationError
from spark_etl.contracts.guards import guard
from spark_etl.datasets import JDBCDataset, _jdbc_connection, jdbc
from spark_etl.datasets.exceptions import (
    AuthenticationError,
    DatasetConfigError,
    SourceUnavailableError,
    UnsafeIdentifierError,
    WriteRejectedError,
)

pytestmark = pytest.mark.integration

SCHEMA = "id string, qty long, price double, tags map<string,long>, updated_at timestamp"
T0 = datetime(2026, 1, 1, 12, 0, 0)
T1 = datetime(2026, 1, 2, 12, 0, 0)


def frame(spark: SparkSession, rows: list[tuple[Any, ...]]) -> DataFrame:
    return spark.createDataFrame(rows, SCHEMA)


@pytest.fixture(params=[False, True], ids=["inserts", "bulk"])
def bulk_load(request: pytest.FixtureRequest) -> bool:
    """Both ways to fill the staging table: batched inserts from every task, or the database's
    bulk path (COPY / LOAD DATA LOCAL INFILE) from CSV files."""
    return bool(request.param)


def upsert(db: Database, table: str, **kwargs: Any) -> JDBCDataset:
    return JDBCDataset(
        url=db.url,
        table=table,
        credentials=db.credentials,
        write_mode="upsert",
        key_columns=["id"],
        audit_columns=["updated_at"],
        **kwargs,
    )


def test_upsert_insert_update_mixed_and_rerun(
    spark: SparkSession, db: Database, unique_name: str, bulk_load: bool
) -> None:
    ds = upsert(db, unique_name, bulk_load=bulk_load)
    ds.save(frame(spark, [("a", 1, 1.5, {"x": 1}, T0), ("b", 2, 2.5, {}, T0)]))  # insert only
    assert db.rows(unique_name) == [("a", 1, 1.5, T0), ("b", 2, 2.5, T0)]

    ds.save(frame(spark, [("a", 10, 1.5, {"x": 1}, T1)]))  # update only
    assert db.rows(unique_name) == [("a", 10, 1.5, T1), ("b", 2, 2.5, T0)]

    ds.save(frame(spark, [("b", 20, 2.5, {}, T1), ("c", 3, 3.5, None, T1)]))  # mixed
    assert db.rows(unique_name) == [("a", 10, 1.5, T1), ("b", 20, 2.5, T1), ("c", 3, 3.5, T1)]

    # The same data again with a newer audit timestamp: nothing changed, so nothing is touched.
    later = datetime(2026, 3, 1)
    ds.save(frame(spark, [("b", 20, 2.5, {}, later), ("c", 3, 3.5, None, later)]))
    assert db.rows(unique_name) == [("a", 10, 1.5, T1), ("b", 20, 2.5, T1), ("c", 3, 3.5, T1)]
    assert ds.load().count() == 3


@pytest.mark.parametrize("mode", ["upsert", "append", "overwrite"])
def test_a_created_table_stores_nested_values_as_json(
    spark: SparkSession, db: Database, unique_name: str, mode: str
) -> None:
    """Maps, arrays and structs get the database's JSON type (jsonb / JSON) when the table is
    created, so its JSON operators work on them."""
    ds = JDBCDataset(
        url=db.url,
        table=unique_name,
        credentials=db.credentials,
        write_mode=mode,
        key_columns=["id"] if mode == "upsert" else None,
    )
    rows = spark.createDataFrame(
        [("a", {"click": 3, "view": 1}, [1, 2], ("x", 7))],
        "id string, counts map<string,long>, ids array<long>, s struct<k:string,n:long>",
    )
    ds.save(rows)
    if db.name == "postgresql":
        types = db.run(
            "SELECT column_name, data_type FROM information_schema.columns "
            f"WHERE table_name = '{unique_name}' AND column_name <> 'id' ORDER BY column_name"
        )
        assert types == [("counts", "jsonb"), ("ids", "jsonb"), ("s", "jsonb")]
        got = db.run(
            f"SELECT counts->>'click', jsonb_array_length(ids), s->>'n' FROM {unique_name}"
        )
        assert got == [("3", 2, "7")]
    else:
        got = db.run(
            f"SELECT JSON_EXTRACT(counts, '$.click'), JSON_LENGTH(ids), "
            f"JSON_UNQUOTE(JSON_EXTRACT(s, '$.k')), JSON_VALID(counts) FROM {unique_name}"
        )
        assert [tuple(str(v) for v in row) for row in got] == [("3", "2", "x", "1")]
    (back,) = ds.load().collect()  # JSON text without a contract to type it
    assert json.loads(back["counts"]) == {"click": 3, "view": 1}
    assert json.loads(back["ids"]) == [1, 2] and json.loads(back["s"]) == {"k": "x", "n": 7}


@pytest.mark.parametrize("mode", ["upsert", "append", "overwrite"])
def test_timestamps_keep_their_microseconds(
    spark: SparkSession, db: Database, unique_name: str, bulk_load: bool, mode: str
) -> None:
    """Both timestamp types keep every digit on every path and write mode (on MariaDB,
    Connector/J would drop the fraction of a timestamp parameter: it takes MariaDB's version
    string "5.5.5-10.x" for MySQL 5.5)."""
    stamps = [datetime(2026, 1, 1, 12, 0, 0, 123456), datetime(1999, 12, 31, 23, 59, 59, 999999)]
    expected = [(f"k{i}", t, t) for i, t in enumerate([*stamps, T0])]
    batch = spark.createDataFrame(expected, "id string, at timestamp, local timestamp_ntz")
    ds = JDBCDataset(
        url=db.url,
        table=unique_name,
        credentials=db.credentials,
        write_mode=mode,
        bulk_load=bulk_load,
        **({"key_columns": ["id"]} if mode == "upsert" else {}),
        **({"overwrite_strategy": "replace"} if mode == "overwrite" else {}),
    )
    ds.save(batch)
    assert db.run(f"SELECT id, at, local FROM {unique_name} ORDER BY id") == expected
    read = ds.load().orderBy("id").collect()
    assert [(r.id, r.at, r.local) for r in read] == expected


def test_upsert_rejects_duplicate_keys_and_writes_nothing(
    spark: SparkSession, db: Database, unique_name: str, bulk_load: bool
) -> None:
    ds = upsert(db, unique_name, bulk_load=bulk_load)
    ds.save(frame(spark, [("a", 1, 1.0, None, T0)]))
    batch = frame(
        spark, [("a", 2, 1.0, None, T1), ("a", 3, 1.0, None, T1), ("b", 1, 1.0, None, T1)]
    )
    with pytest.raises(DatasetError, match=r"same key more than once \(id='a' \(2x\)\)"):
        ds.save(batch)
    assert db.rows(unique_name) == [("a", 1, 1.0, T0)]
    leftovers = [t for t in tables_of(db) if t.startswith(unique_name + "__stg")]
    assert leftovers == []


def test_a_guard_that_fires_aborts_the_staging_load_and_the_target_is_untouched(
    spark: SparkSession, db: Database, unique_name: str, bulk_load: bool
) -> None:
    ds = upsert(db, unique_name, bulk_load=bulk_load)
    ds.save(frame(spark, [("a", 1, 1.0, None, T0)]))
    rows = [(f"k{i}", i, 1.0, None, T1) for i in range(200)] + [("z", -1, 1.0, None, T1)]
    checked = guard(
        frame(spark, rows).repartition(4),  # several tasks: the others may have loaded rows
        "dataset 'orders'",
        [F.col("qty") < 0],
        lambda: ContractViolationError("Dataset 'orders': qty < 0 in 1 row", {}),
    )
    with pytest.raises(ContractViolationError, match=r"Dataset 'orders': qty < 0 in 1 row"):
        ds.save(checked)
    assert db.rows(unique_name) == [("a", 1, 1.0, T0)]
    assert [t for t in tables_of(db) if t.startswith(unique_name + "__stg")] == []


def test_upsert_names_keys_equal_only_under_the_database_collation(
    spark: SparkSession, db: Database, unique_name: str, bulk_load: bool
) -> None:
    """MariaDB's default collation makes 'K' and 'k' one key: Spark cannot see the repeat, so the
    error quotes the database; PostgreSQL compares bytes and takes both rows."""
    ds = upsert(db, unique_name, bulk_load=bulk_load)
    batch = frame(spark, [("k", 1, 1.0, None, T1), ("K", 2, 1.0, None, T1)])
    if db.name == "postgresql":
        ds.save(batch)
        assert [r[0] for r in db.rows(unique_name)] == ["K", "k"]
        return
    ds.save(frame(spark, [("x", 1, 1.0, None, T0)]))
    with pytest.raises(DatasetError, match=r"same key more than once \(Duplicate entry"):
        ds.save(batch)
    assert db.rows(unique_name) == [("x", 1, 1.0, T0)]
    assert [t for t in tables_of(db) if t.startswith(unique_name + "__stg")] == []


def test_upsert_dedup_order_by_keeps_latest(
    spark: SparkSession, db: Database, unique_name: str
) -> None:
    ds = upsert(db, unique_name, dedup_order_by="updated_at")
    ds.save(
        frame(spark, [("a", 2, 1.0, None, T0), ("a", 3, 1.0, None, T1), ("b", 1, 1.0, None, T0)])
    )
    assert db.rows(unique_name) == [("a", 3, 1.0, T1), ("b", 1, 1.0, T0)]


def test_constraint_violation_rolls_back_whole_batch(
    spark: SparkSession, db: Database, unique_name: str, bulk_load: bool
) -> None:
    db.run(
        f"CREATE TABLE {unique_name} (id VARCHAR(20) PRIMARY KEY, qty BIGINT CHECK (qty >= 0), "
        "price DOUBLE PRECISION, tags TEXT, updated_at TIMESTAMP NULL)"
    )
    ds = upsert(db, unique_name, bulk_load=bulk_load)
    ds.save(frame(spark, [("a", 1, 1.0, None, T0)]))
    bad = frame(spark, [("a", 5, 1.0, None, T1), ("b", 2, 1.0, None, T1), ("c", -1, 1.0, None, T1)])
    with pytest.raises(DatasetError, match=r"rejected the write .* as a whole") as info:
        ds.save(bad)
    assert isinstance(info.value.__cause__, WriteRejectedError)
    assert db.rows(unique_name) == [("a", 1, 1.0, T0)]


def test_append_and_overwrite_truncate_keep_indexes(
    spark: SparkSession, db: Database, unique_name: str
) -> None:
    db.run(
        f"CREATE TABLE {unique_name} (id VARCHAR(20), qty BIGINT, price DOUBLE PRECISION, "
        "tags TEXT, updated_at TIMESTAMP NULL)"
    )
    db.run(f"CREATE INDEX {unique_name}_qty ON {unique_name} (qty)")
    append = JDBCDataset(url=db.url, table=unique_name, credentials=db.credentials)
    append.save(frame(spark, [("a", 1, 1.0, None, T0)]))
    append.save(frame(spark, [("a", 1, 1.0, None, T0)]))
    assert db.rows(unique_name) == [("a", 1, 1.0, T0), ("a", 1, 1.0, T0)]

    overwrite = JDBCDataset(
        url=db.url, table=unique_name, credentials=db.credentials, write_mode="overwrite"
    )
    overwrite.save(frame(spark, [("z", 9, 9.0, None, T1)]))
    assert db.rows(unique_name) == [("z", 9, 9.0, T1)]
    assert f"{unique_name}_qty" in _indexes(db, unique_name)


def test_overwrite_replace_takes_new_schema(
    spark: SparkSession, db: Database, unique_name: str
) -> None:
    db.run(f"CREATE TABLE {unique_name} (id VARCHAR(20), old_column BIGINT)")
    ds = JDBCDataset(
        url=db.url,
        table=unique_name,
        credentials=db.credentials,
        write_mode="overwrite",
        overwrite_strategy="replace",
    )
    ds.save(frame(spark, [("a", 1, 1.0, {"k": 1}, T0)]))
    assert db.rows(unique_name) == [("a", 1, 1.0, T0)]
    assert [c.name for c in ds.load().schema] == ["id", "qty", "price", "tags", "updated_at"]


def test_partitioned_read_and_query(spark: SparkSession, db: Database, unique_name: str) -> None:
    rows = [(f"k{i:03d}", i, float(i), None, T0) for i in range(100)]
    upsert(db, unique_name).save(frame(spark, rows))
    parallel = JDBCDataset(
        url=db.url,
        table=unique_name,
        credentials=db.credentials,
        load_args={
            "partitionColumn": "qty",
            "lowerBound": 0,
            "upperBound": 100,
            "numPartitions": 4,
        },
    )
    df = parallel.load()
    assert df.rdd.getNumPartitions() == 4
    filtered = df.filter("qty >= 90")
    assert filtered.count() == 10
    # the filter runs in the database: Spark's JDBC scan lists it as pushed down
    plan = filtered._jdf.queryExecution().executedPlan().toString()
    assert "PushedFilters: [*IsNotNull(qty), *GreaterThanOrEqual(qty,90)]" in plan
    query = JDBCDataset(
        url=db.url,
        query=f"SELECT id, qty FROM {unique_name} WHERE qty < 3",
        credentials=db.credentials,
    )
    assert sorted(map(tuple, query.load().collect())) == [("k000", 0), ("k001", 1), ("k002", 2)]


def test_upsert_needs_unique_key(spark: SparkSession, db: Database, unique_name: str) -> None:
    db.run(
        f"CREATE TABLE {unique_name} (id VARCHAR(20), qty BIGINT, price DOUBLE PRECISION, "
        "tags TEXT, updated_at TIMESTAMP NULL)"
    )
    with pytest.raises(DatasetError, match=r"needs key_columns \['id'\] to be its primary key"):
        upsert(db, unique_name).save(frame(spark, [("a", 1, 1.0, None, T0)]))


def test_missing_table_on_read_is_named(spark: SparkSession, db: Database) -> None:
    ds = JDBCDataset(url=db.url, table="no_such_table", credentials=db.credentials)
    assert not ds.exists()
    with pytest.raises(DatasetError, match="Table 'no_such_table' does not exist"):
        ds.load()


def test_wrong_password_is_an_authentication_error(spark: SparkSession, db: Database) -> None:
    creds = {**db.credentials, "password": "not-the-password"}
    ds = JDBCDataset(url=db.url, table="anything", credentials=creds)
    with pytest.raises(DatasetError, match="refused the credentials of user") as info:
        ds.load()
    assert isinstance(info.value.__cause__, AuthenticationError)
    assert "not-the-password" not in str(info.value)


@pytest.mark.parametrize("url", ["jdbc:postgresql://127.0.0.1:1/db", "jdbc:mysql://127.0.0.1:1/db"])
def test_server_down_is_transient_and_named(spark: SparkSession, url: str) -> None:
    ds = JDBCDataset(url=url, table="t", credentials={"user": "u", "password": "p"})
    with pytest.raises(
        DatasetError, match=r"at 127\.0\.0\.1:1 \(table 't'\) is not reachable"
    ) as info:
        ds.load()
    assert isinstance(info.value.__cause__, SourceUnavailableError)
    assert info.value.__cause__.transient


@pytest.mark.parametrize("table", ["users; drop table x", "a.b.c", "1abc", 'x" OR 1=1'])
def test_hostile_table_names_rejected_before_sql(table: str) -> None:
    with pytest.raises((UnsafeIdentifierError, DatasetConfigError), match=r"Invalid|use 'table'"):
        JDBCDataset(url="jdbc:postgresql://127.0.0.1:1/db", table=table)


def test_hostile_column_name_rejected_before_sql(spark: SparkSession) -> None:
    ds = JDBCDataset(url="jdbc:postgresql://127.0.0.1:1/db", table="t")
    df = spark.createDataFrame([(1,)], "`a; drop table t` int")
    with pytest.raises(DatasetError, match="Invalid column 'a; drop table t'"):
        ds.save(df)


def test_config_errors() -> None:
    with pytest.raises(DatasetConfigError, match="upsert' needs key_columns"):
        JDBCDataset(url="jdbc:postgresql://h/db", table="t", write_mode="upsert")
    with pytest.raises(DatasetConfigError, match="unknown write_mode 'merge'"):
        JDBCDataset(url="jdbc:postgresql://h/db", table="t", write_mode="merge")
    with pytest.raises(DatasetConfigError, match="exactly one of 'table' and 'query'"):
        JDBCDataset(url="jdbc:postgresql://h/db")
    with pytest.raises(DatasetConfigError, match="Unsupported JDBC URL scheme 'jdbc:oracle:'"):
        JDBCDataset(url="jdbc:oracle:thin:@h:1521/db", table="t")
    with pytest.raises(DatasetConfigError, match="unknown overwrite_strategy"):
        JDBCDataset(url="jdbc:postgresql://h/db", table="t", overwrite_strategy="drop")


def test_describe_has_no_password() -> None:
    ds = JDBCDataset(
        url="jdbc:postgresql://h/db",
        table="t",
        credentials={"user": "me", "password": "s3cr3t-value"},
        save_args={"batchsize": 10},
    )
    assert "s3cr3t-value" not in repr(ds)
    assert "user='me'" in repr(ds)


def _indexes(db: Database, table: str) -> list[str]:
    if db.name == "postgresql":
        return [r[0] for r in db.run(f"SELECT indexname FROM pg_indexes WHERE tablename='{table}'")]
    return [r[2] for r in db.run(f"SHOW INDEX FROM {table}")]


def test_streaming_micro_batch_uses_one_connection_per_task_slot(
    spark: SparkSession,
    services: dict[str, str],
    pg_credentials: dict[str, str],
    tmp_path: Any,
    unique_name: str,
) -> None:
    """A stateful query's micro-batch has spark.sql.shuffle.partitions partitions (8 here), most
    nearly empty; its staging write runs one task (one connection) per task slot, 2 on local[2]
    (small_batch_rows: 0 sends even this small batch through the staging table)."""
    source = tmp_path / "in"
    source.mkdir()
    (source / "part-0.json").write_text(
        "\n".join(f'{{"id": "k{i % 20}", "qty": {i}}}' for i in range(200)) + "\n"
    )
    stream = spark.readStream.schema("id string, qty long").json(str(source))
    counts = stream.groupBy("id").agg(F.sum("qty").alias("qty"))
    sink = JDBCDataset(
        url=services["SPARK_ETL_PG_URL"],
        table=unique_name,
        credentials=pg_credentials,
        write_mode="upsert",
        key_columns=["id"],
        small_batch_rows=0,
        streaming={
            "checkpoint_location": str(tmp_path / "checkpoint"),
            "trigger": "available-now",
            "output_mode": "update",
        },
    )
    previous = spark.conf.get("spark.sql.shuffle.partitions")
    spark.conf.set("spark.sql.shuffle.partitions", "8")
    try:
        sink.save(counts)
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", previous)
    assert sink.query is not None
    sink.query.awaitTermination(180)
    assert sink.query.exception() is None

    tracker = spark.sparkContext.statusTracker()
    stages = [
        tracker.getStageInfo(stage)
        for job in tracker.getJobIdsForGroup(str(sink.query.runId))
        for stage in (tracker.getJobInfo(job).stageIds if tracker.getJobInfo(job) else [])
    ]
    tasks = sorted(s.numTasks for s in stages if s is not None)
    assert tasks[-1] == spark.sparkContext.defaultParallelism == 2  # not 8: capped per slot
    assert sink.load().count() == 20
    assert sum(row.qty for row in sink.load().collect()) == sum(range(200))


@pytest.mark.parametrize("small_batch_rows", [0, 10_000])  # through a staging table, or not
def test_a_stream_checks_its_target_once_per_query_over_one_connection_per_batch(
    small_batch_rows: int,
    spark: SparkSession,
    services: dict[str, str],
    pg_credentials: dict[str, str],
    pg: Any,
    tmp_path: Any,
    unique_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each micro-batch's statements (staging DDL, merge, drop) share one driver connection; the
    target's existence and key are looked up in a query's first batch only. A new query (a
    restart) looks again: a table dropped meanwhile is created anew."""
    source = tmp_path / "in"
    source.mkdir()

    def add_file(n: int) -> None:
        rows = "\n".join(f'{{"id": "f{n}-{i}", "qty": {i}}}' for i in range(5))
        (source / f"part-{n}.json").write_text(rows + "\n")

    sink = JDBCDataset(
        url=services["SPARK_ETL_PG_URL"],
        table=unique_name,
        credentials=pg_credentials,
        write_mode="upsert",
        key_columns=["id"],
        small_batch_rows=small_batch_rows,
        streaming={"checkpoint_location": str(tmp_path / "ckpt"), "trigger": "available-now"},
    )
    calls = {"open": 0, "index lookups": 0}
    # the sink's connections, and the index lookups of the JDBC dataset (this sink's alone here)
    spied = ((sink, "_open_connection", "open"), (jdbc, "unique_column_sets", "index lookups"))
    for owner, name, key in spied:
        method = getattr(owner, name)

        def counted(*args: Any, _method: Any = method, _key: str = key) -> Any:
            calls[_key] += 1
            return _method(*args)

        monkeypatch.setattr(owner, name, counted)

    def run_query() -> None:  # the same dataset object, as the catalog keeps it across retries
        calls.update({"open": 0, "index lookups": 0})
        stream = (
            spark.readStream.schema("id string, qty long")
            .option("maxFilesPerTrigger", 1)
            .json(str(source))
        )
        sink.save(stream)
        assert sink.query is not None
        sink.query.awaitTermination(180)
        assert sink.query.exception() is None
        assert calls == {"open": batches(sink), "index lookups": 1}

    def batches(sink: JDBCDataset) -> int:
        return len([p for p in sink.query.recentProgress if p.numInputRows]) if sink.query else 0

    for n in range(3):
        add_file(n)
    run_query()
    assert batches(sink) == 3
    assert pg.execute(f"SELECT count(*) FROM {unique_name}").fetchone() == (15,)

    pg.execute(f"DROP TABLE {unique_name}")
    add_file(3)
    run_query()  # the same checkpoint: only the new file
    assert batches(sink) == 1
    assert pg.execute(f"SELECT count(*) FROM {unique_name}").fetchone() == (5,)


def test_the_commit_opens_a_new_connection_when_the_server_closed_the_first(
    pg: Any, services: dict[str, str], pg_credentials: dict[str, str], spark: SparkSession
) -> None:
    """The driver's connection idles while Spark loads the staging table (minutes for a large
    batch); one the server closed meanwhile is replaced, not used to commit."""
    sink = JDBCDataset(url=services["SPARK_ETL_PG_URL"], table="t", credentials=pg_credentials)
    held = _jdbc_connection.HeldConnection(sink._open_connection)
    first = held.get()
    assert held.get() is first  # valid: kept
    backend = _jdbc_connection.query(first, "SELECT pg_backend_pid()")[0][0]
    pg.execute(f"SELECT pg_terminate_backend({backend})")
    second = held.get()
    assert second is not first
    assert _jdbc_connection.query(second, "SELECT 1") == [("1",)]
    held.close()
