"""JDBCDataset's bulk load (``bulk_load: true``) against the real PostgreSQL and MariaDB servers:
text files written by Spark, streamed by the driver through COPY / LOAD DATA LOCAL INFILE."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from databases import Database, tables_of
from kedro.io import DatasetError
from kedro_run import s3_client
from pyspark.sql import SparkSession

from spark_etl._jvm import jvm_of
from spark_etl.datasets import JDBCDataset
from spark_etl.datasets import _bulk as bulk
from spark_etl.datasets._dialects import MySQLDialect, PostgresDialect, TableName
from spark_etl.datasets.exceptions import DatasetConfigError, WriteRejectedError

pytestmark = pytest.mark.integration

BUCKET = "spark-etl-test"
TYPES = (
    "id string, s string, n long, i int, d double, f float, ok boolean, amount decimal(12,4), "
    "day date, ts timestamp, raw binary, tags map<string,long>"
)
#: Strings that break naive text files: separators, quotes, line breaks, escapes, NULL look-alikes,
#: surrounding blanks, non-ASCII.
AWKWARD = [
    "plain",
    "",
    "  padded  ",
    "NULL",
    "\\N",
    "null",
    'say "hi", then go',
    "line\nbreak\r\nand more",
    "back\\slash\\n\\t",
    "tab\tseparated",
    "ünïcödé € 😀",
    "'single' quotes",
    ",",
    '"',
]


def awkward_rows() -> list[tuple[Any, ...]]:
    ts = datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=UTC)
    rows: list[tuple[Any, ...]] = [
        (
            f"k{i:02d}",
            text,
            -(2**62) + i,
            i,
            1.0 / (i + 3),
            0.5 + i,
            i % 2 == 0,
            Decimal("12345678.1234") - i,
            date(1970 + i, 1 + i % 12, 1 + i),
            ts.replace(year=1990 + i),
            text.encode("utf-8"),
            {"a": i, "b,c": -i},
        )
        for i, text in enumerate(AWKWARD)
    ]
    rows.append(("knull", None, None, None, None, None, None, None, None, None, None, None))
    rows.append(("kempty", "", 0, 0, 0.0, 0.0, False, Decimal(0), None, None, b"", {}))
    return rows


@pytest.fixture
def new_york_jvm(spark: SparkSession) -> Iterator[None]:
    """The JVM's default time zone set to New York for the test (the JDBC drivers send
    timestamps as wall-clock time in it; the bulk path must store the same values)."""
    zone = jvm_of(spark).java.util.TimeZone
    before = zone.getDefault()
    zone.setDefault(zone.getTimeZone("America/New_York"))
    try:
        yield
    finally:
        zone.setDefault(before)


def new_york(instant: datetime) -> datetime:
    """The wall-clock time of ``instant`` in New York (what a TIMESTAMP column stores)."""
    return instant.astimezone(ZoneInfo("America/New_York")).replace(tzinfo=None)


def sink(db: Database, table: str, **kwargs: Any) -> JDBCDataset:
    return JDBCDataset(url=db.url, table=table, credentials=db.credentials, **kwargs)


def stored(db: Database, table: str) -> list[tuple[Any, ...]]:
    """Every column as the database's own client returns it (JSON as text, parsed)."""
    rows = db.run(f"SELECT * FROM {table} ORDER BY id")
    return [tuple(_plain(v) for v in row) for row in rows]


def _plain(value: Any) -> Any:
    if isinstance(value, memoryview):
        return bytes(value)
    return value


def test_bulk_load_stores_what_batched_inserts_store(
    spark: SparkSession, db: Database, unique_name: str, new_york_jvm: None
) -> None:
    """Every type and every awkward string, with NULLs in every column: the table filled by the
    bulk path holds exactly what the table filled by batched inserts holds."""
    batch = spark.createDataFrame(awkward_rows(), TYPES).repartition(3)
    sink(db, f"{unique_name}_ins").save(batch)
    sink(db, f"{unique_name}_bulk", bulk_load=True).save(batch)

    by_inserts, by_bulk = stored(db, f"{unique_name}_ins"), stored(db, f"{unique_name}_bulk")
    assert len(by_bulk) == len(AWKWARD) + 2
    timestamps = [row[9] for row in by_bulk if row[0].startswith("k0") or row[0].startswith("k1")]
    assert timestamps == [new_york(row[9]) for row in awkward_rows()[: len(AWKWARD)]]
    assert any(t.microsecond for t in timestamps)
    assert by_bulk == by_inserts
    strings = {row[0]: row[1] for row in by_bulk}
    assert [strings[f"k{i:02d}"] for i in range(len(AWKWARD))] == AWKWARD
    assert strings["knull"] is None
    assert strings["kempty"] == ""
    nulls = next(row for row in by_bulk if row[0] == "knull")
    assert all(value is None for value in nulls[1:])


def test_bulk_upsert_half_new_half_updates(
    spark: SparkSession, db: Database, unique_name: str
) -> None:
    schema = "id string, qty long"
    ds = sink(db, unique_name, bulk_load=True, write_mode="upsert", key_columns=["id"])
    ds.save(spark.createDataFrame([(f"k{i}", i) for i in range(4)], schema))
    ds.save(spark.createDataFrame([(f"k{i}", 10 * i) for i in range(2, 6)], schema))
    assert db.run(f"SELECT id, qty FROM {unique_name} ORDER BY id") == [
        ("k0", 0),
        ("k1", 1),
        ("k2", 20),
        ("k3", 30),
        ("k4", 40),
        ("k5", 50),
    ]
    assert ds.last_save is not None and ds.last_save.records == 4


def test_a_value_the_table_refuses_rejects_the_whole_load(
    spark: SparkSession, db: Database, unique_name: str, tmp_path: Path
) -> None:
    """PostgreSQL's COPY stops on the value; MariaDB's LOAD DATA LOCAL only warns (and would
    store a truncated value): the warning refuses the load. Either way nothing is written and
    the files are gone."""
    db.run(f"CREATE TABLE {unique_name} (id VARCHAR(10) PRIMARY KEY, code VARCHAR(3))")
    db.run(f"INSERT INTO {unique_name} VALUES ('old', 'abc')")
    ds = sink(db, unique_name, bulk_load=True, bulk_load_path=tmp_path.as_uri())
    bad = spark.createDataFrame(
        [("a", "ok"), ("b", "too long"), ("c", "ok")], "id string, code string"
    )
    with pytest.raises(DatasetError, match=r"too long|Data truncated for column 'code'") as info:
        ds.save(bad)
    assert isinstance(info.value.__cause__, WriteRejectedError)
    assert "Nothing was written" in str(info.value)
    assert db.run(f"SELECT id, code FROM {unique_name}") == [("old", "abc")]
    assert [t for t in tables_of(db) if t.startswith(unique_name + "__stg")] == []
    assert list(tmp_path.iterdir()) == []


def test_a_bulk_load_path_no_filesystem_serves_is_named(
    spark: SparkSession, db: Database, unique_name: str
) -> None:
    ds = sink(db, unique_name, bulk_load=True, bulk_load_path="nosuchfs://bucket/tmp")
    with pytest.raises(
        DatasetError, match=r"bulk_load_path cannot hold the files \(nosuchfs://"
    ) as info:
        ds.save(spark.createDataFrame([("a",)], "id string"))
    assert isinstance(info.value.__cause__, DatasetConfigError)
    assert db.run(f"SELECT count(*) FROM {unique_name}")[0][0] == 0
    assert [t for t in tables_of(db) if t.startswith(unique_name + "__stg")] == []


def test_mariadb_warning_on_a_number_is_refused(
    spark: SparkSession,
    mysql_credentials: dict[str, str],
    services: dict[str, str],
    unique_name: str,
    mysql: Any,
) -> None:
    """NaN has no MariaDB DOUBLE: LOAD DATA LOCAL would store 0 with a warning."""
    ds = JDBCDataset(
        url=services["SPARK_ETL_MYSQL_URL"],
        table=unique_name,
        credentials=mysql_credentials,
        bulk_load=True,
    )
    with pytest.raises(DatasetError, match=r"refused rows of the bulk load .*Incorrect double"):
        ds.save(spark.createDataFrame([("a", float("nan")), ("b", 1.0)], "id string, d double"))
    with mysql.cursor() as cur:  # the table the save created holds nothing: no 0 for NaN
        cur.execute(f"SELECT count(*) FROM {unique_name}")
        assert cur.fetchone() == (0,)


def test_files_go_to_the_given_path_and_are_removed(
    spark: SparkSession,
    db: Database,
    unique_name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[tuple[str, list[str]]] = []
    real = bulk._load_share

    def watching(jvm: Any, connect: Any, load: bulk.Load, files: bulk.TextFiles) -> int:
        assert all(Path(str(p.toUri().getPath())).is_file() for p in files.parts)
        seen.append((threading.current_thread().name, [str(p.getName()) for p in files.parts]))
        return real(jvm, connect, load, files)

    monkeypatch.setattr(bulk, "_load_share", watching)  # a spy around the real loader
    ds = sink(
        db,
        unique_name,
        bulk_load=True,
        bulk_load_path=tmp_path.as_uri(),
        save_args={"numPartitions": 2},
    )
    ds.save(spark.createDataFrame([(f"k{i}",) for i in range(50)], "id string").repartition(4))
    # Four files, shared out between two connections loading at once.
    assert sorted(len(parts) for _, parts in seen) == [2, 2]
    assert len({thread for thread, _ in seen}) == 2
    names = [name for _, parts in seen for name in parts]
    assert len(set(names)) == 4
    assert all(name.startswith("part-") and name.endswith(".txt") for name in names)
    assert db.run(f"SELECT count(*) FROM {unique_name}")[0][0] == 50
    assert list(tmp_path.iterdir()) == []


def test_files_on_the_s3_server(
    spark: SparkSession,
    db: Database,
    unique_name: str,
    services: dict[str, str],
    s3_credentials: dict[str, Any],
) -> None:
    """A cluster's executors write the files to shared storage: the S3 server here. PostgreSQL
    streams them from it; MariaDB gets a copy of one file at a time on the driver."""
    conf = spark.sparkContext._jsc.hadoopConfiguration()  # type: ignore[union-attr]
    for key, value in {
        "endpoint": s3_credentials["endpoint"],
        "access.key": s3_credentials["access_key"],
        "secret.key": s3_credentials["secret_key"],
        "path.style.access": "true",
    }.items():
        conf.set(f"fs.s3a.bucket.{BUCKET}.{key}", value)
    ds = sink(
        db,
        unique_name,
        bulk_load=True,
        bulk_load_path=f"s3a://{BUCKET}/{unique_name}/bulk",
        write_mode="upsert",
        key_columns=["id"],
    )
    ds.save(spark.createDataFrame([("a", "x\ny"), ("b", None)], "id string, v string"))
    assert db.run(f"SELECT id, v FROM {unique_name} ORDER BY id") == [("a", "x\ny"), ("b", None)]
    listed = s3_client(services).list_objects_v2(Bucket=BUCKET, Prefix=f"{unique_name}/")
    # The files are gone; S3A keeps the (empty) bulk_load_path folder itself as a marker.
    assert [(o["Key"], o["Size"]) for o in listed["Contents"]] == [(f"{unique_name}/bulk/", 0)]


def test_mariadb_without_local_infile_is_named(
    spark: SparkSession, services: dict[str, str], mysql_credentials: dict[str, str]
) -> None:
    """A connection that does not offer LOCAL INFILE (as a server with local_infile=OFF
    refuses it) gets MariaDB's real refusal, which names the setting to change."""
    jvm = jvm_of(spark)
    jvm.org.apache.spark.sql.execution.datasources.jdbc.DriverRegistry.register(MySQLDialect.driver)
    props = jvm.java.util.Properties()
    for key, value in mysql_credentials.items():
        props.setProperty(key, value)
    conn = jvm.java.sql.DriverManager.getConnection(services["SPARK_ETL_MYSQL_URL"], props)
    try:
        sql = MySQLDialect().bulk_statement(TableName("nowhere"), ["id"], [], "/tmp/none.txt")
        with pytest.raises(
            DatasetConfigError, match=r"refuses LOAD DATA LOCAL INFILE.*local_infile"
        ):
            bulk._load_file(conn, sql)
    finally:
        conn.close()


def test_a_cluster_master_needs_a_shared_path() -> None:
    # A stand-in session that only answers the master's URL: no cluster runs for this check.
    session: Any = SimpleNamespace(sparkContext=SimpleNamespace(master="spark://10.0.0.5:7077"))
    with pytest.raises(DatasetConfigError, match=r"'orders'.*needs bulk_load_path.*s3a://"):
        bulk.default_folder(session, "orders")
    local: Any = SimpleNamespace(sparkContext=SimpleNamespace(master="local[2]"))
    assert bulk.default_folder(local, "orders").startswith("file:/")


def test_bulk_load_path_without_bulk_load_is_refused() -> None:
    with pytest.raises(DatasetConfigError, match="bulk_load_path is set but bulk_load is false"):
        JDBCDataset(url="jdbc:postgresql://h/db", table="t", bulk_load_path="s3a://b/tmp")


def test_statements() -> None:
    staging = TableName("t__stg", "db")
    assert MySQLDialect().bulk_statement(staging, ["id", "raw"], ["raw"], "/tmp/it's.txt") == (
        "LOAD DATA LOCAL INFILE '/tmp/it\\'s.txt' INTO TABLE `db`.`t__stg` CHARACTER SET utf8mb4 "
        "FIELDS TERMINATED BY '\\t' ENCLOSED BY '' ESCAPED BY '\\\\' "
        "LINES TERMINATED BY '\\n' (`id`, @raw) SET `raw` = UNHEX(@raw)"
    )
    assert PostgresDialect().bulk_statement(staging, ["id", "raw"], ["raw"], "") == (
        'COPY "db"."t__stg" ("id", "raw") FROM STDIN WITH (FORMAT text, ENCODING \'UTF8\')'
    )
