"""Bulk loading of a JDBC staging table (``bulk_load: true``).

Spark writes the batch as text files (in parallel, in the JVM; tab-separated fields with backslash
escapes, the format both loaders read fastest); the driver then hands the files to
the database's own bulk path, over a few connections at once (one per task slot, or
``save_args.numPartitions``, as Spark's JDBC writer would open): PostgreSQL's ``COPY ... FROM
STDIN`` (pgjdbc's ``CopyManager`` reads each file straight from its Hadoop filesystem) and MySQL's
``LOAD DATA LOCAL INFILE`` (Connector/J reads a file on the driver, and only from that file's
folder: ``allowLoadLocalInfileInPath``, so a server can never ask for any other file). No row
passes through Python.

``LOAD DATA LOCAL`` turns bad values and repeated keys into warnings instead of errors (the server
cannot stop the client's stream); every warning is therefore read back and refuses the load.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import BinaryType

from spark_etl._jvm import hadoop_conf, is_jvm_error, java_error_chain, jvm_of, jvm_time_zone
from spark_etl.datasets._dialects import BulkLoader, Dialect, TableName
from spark_etl.datasets.exceptions import DatasetConfigError

logger = logging.getLogger(__name__)

_DUPLICATE_KEY_WARNING = "1062"
_MAX_REPORTED_WARNINGS = 10
# The server refused LOCAL INFILE: MariaDB's and MySQL's words.
_LOCAL_INFILE_WORDS = ("disabled the local infile", "loading local data is disabled")


class BulkLoadRejected(Exception):
    """The database refused rows of a bulk load (its own words in ``messages``)."""

    def __init__(self, messages: list[str], duplicate_key: bool) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages
        self.duplicate_key = duplicate_key


@dataclass(frozen=True)
class Load:
    """Where a bulk load goes: the staging table and its columns, in the files' order."""

    dialect: Dialect
    staging: TableName
    columns: list[str]
    binary: list[str]

    @classmethod
    def of(cls, dialect: Dialect, staging: TableName, data: DataFrame) -> Load:
        """A load of ``data``'s columns; binary columns travel as hex."""
        binary = [f.name for f in data.schema.fields if isinstance(f.dataType, BinaryType)]
        return cls(dialect, staging, list(data.columns), binary)

    def statement(self, file: str = "") -> str:
        """The dialect's statement that loads one file."""
        return self.dialect.bulk_statement(self.staging, self.columns, self.binary, file)


@dataclass(frozen=True)
class TextFiles:
    """The text files of one batch: their folder, its filesystem, and the part files in it."""

    folder: Any  # org.apache.hadoop.fs.Path
    filesystem: Any  # org.apache.hadoop.fs.FileSystem
    parts: list[Any]

    @property
    def is_local(self) -> bool:
        """Whether the driver can open the files by their path."""
        return str(self.filesystem.getScheme()) == "file"


def default_folder(spark: SparkSession, dataset: str) -> str:
    """Where the files go when ``bulk_load_path`` is unset: the driver's temp folder, which only
    a local master's executors share with the driver."""
    master = str(spark.sparkContext.master)
    if not master.startswith("local"):
        raise DatasetConfigError(
            f"JDBCDataset '{dataset}': bulk_load on master '{master}' needs bulk_load_path, a "
            "folder that every executor and the driver can reach (s3a://bucket/tmp/spark-etl, "
            "hdfs://..., a shared file:// mount)."
        )
    return Path(tempfile.gettempdir(), "spark-etl-bulk").as_uri()


@contextmanager
def written_text(
    spark: SparkSession, data: DataFrame, dialect: Dialect, folder: str
) -> Iterator[TextFiles]:
    """Write ``data`` as text files of :meth:`Dialect.bulk_frame` under ``folder`` (a new
    folder), yield them, then delete them whatever happened."""
    jvm = jvm_of(spark)
    path = jvm.org.apache.hadoop.fs.Path(folder)
    try:
        filesystem = path.getFileSystem(hadoop_conf(spark))
    except Exception as exc:
        if not is_jvm_error(exc):
            raise
        raise DatasetConfigError(
            f"bulk_load_path cannot hold the files ({folder}): {java_error_chain(exc)[0]}. Use a "
            "folder every executor and the driver can reach (s3a://, hdfs://, file://)."
        ) from exc
    time_zone = jvm_time_zone(spark)
    try:
        dialect.bulk_frame(data, time_zone).write.format("text").option("lineSep", "\n").mode(
            "errorifexists"
        ).save(folder)
        parts = sorted(
            (status.getPath() for status in filesystem.listStatus(path)),
            key=lambda p: str(p.getName()),
        )
        yield TextFiles(
            path, filesystem, [p for p in parts if str(p.getName()).startswith("part-")]
        )
    finally:
        _delete_quietly(filesystem, path)


def load_files(jvm: Any, connect: Any, load: Load, files: TextFiles, connections: int) -> int:
    """Load every file into the staging table with the dialect's bulk path, over up to
    ``connections`` connections at once (the files shared out between them); the rows loaded.

    ``connect(properties)`` opens a connection to the database with these extra JDBC
    properties (a context manager). A failed load makes the whole call fail once every
    connection has finished (the staging table is dropped by the caller).
    """
    count = max(1, min(connections, len(files.parts)))
    shares = [replace(files, parts=files.parts[i::count]) for i in range(count)]
    if count == 1:
        return _load_share(jvm, connect, load, shares[0])
    with ThreadPoolExecutor(count, thread_name_prefix="spark-etl-bulk-load") as pool:
        futures = [pool.submit(_load_share, jvm, connect, load, share) for share in shares]
        wait(futures)
    for future in futures:
        error = future.exception()
        if error is not None:
            raise error
    return sum(future.result() for future in futures)


def _load_share(jvm: Any, connect: Any, load: Load, files: TextFiles) -> int:
    return _LOADERS[load.dialect.bulk_loader](jvm, connect, load, files)


def copy_in(jvm: Any, connect: Any, load: Load, files: TextFiles) -> int:
    """PostgreSQL: ``COPY FROM STDIN`` of every file over one connection, streamed from its
    filesystem."""
    with connect({}) as conn:
        copier = jvm.org.postgresql.copy.CopyManager(conn)
        sql = load.statement()
        rows = 0
        for part in files.parts:
            stream = files.filesystem.open(part)
            try:
                rows += int(copier.copyIn(sql, stream))
            finally:
                stream.close()
        return rows


def load_data(jvm: Any, connect: Any, load: Load, files: TextFiles) -> int:
    """MySQL: ``LOAD DATA LOCAL INFILE`` of every file, from a folder on the driver (the files'
    own, or a copy of each remote file in turn); every warning refuses the load."""
    rows = 0
    with _local_folder(files) as local, connect({"allowLoadLocalInfileInPath": str(local)}) as conn:
        for part in files.parts:
            with _local_copy(jvm, files, part, local) as file:
                rows += _load_file(conn, load.statement(file))
    return rows


#: The loader of each dialect's bulk path (:attr:`Dialect.bulk_loader`).
_LOADERS: dict[BulkLoader, Callable[[Any, Any, Load, TextFiles], int]] = {
    "copy": copy_in,
    "load_data": load_data,
}


def _load_file(conn: Any, sql: str) -> int:
    statement = conn.createStatement()
    try:
        try:
            rows = int(statement.executeUpdate(sql))
        except Exception as exc:
            if is_jvm_error(exc) and _local_infile_refused(exc):
                raise DatasetConfigError(
                    "The MySQL server refuses LOAD DATA LOCAL INFILE (bulk_load): enable it on "
                    "the server (SET GLOBAL local_infile = 1, or local_infile=ON in my.cnf), or "
                    "set bulk_load: false."
                ) from exc
            raise
        warnings = _warnings(statement)
    finally:
        statement.close()
    if warnings:
        raise BulkLoadRejected(
            [message for _, message in warnings],
            duplicate_key=any(code == _DUPLICATE_KEY_WARNING for code, _ in warnings),
        )
    return rows


def _warnings(statement: Any) -> list[tuple[str, str]]:
    rs = statement.executeQuery(f"SHOW WARNINGS LIMIT {_MAX_REPORTED_WARNINGS}")
    found = []
    try:
        while rs.next():
            found.append((str(rs.getString("Code")), str(rs.getString("Message"))))
    finally:
        rs.close()
    return found


def _local_infile_refused(exc: Exception) -> bool:
    chain = " | ".join(java_error_chain(exc)).lower()
    return any(words in chain for words in _LOCAL_INFILE_WORDS)


@contextmanager
def _local_folder(files: TextFiles) -> Iterator[Path]:
    if files.is_local:
        yield Path(str(files.folder.toUri().getPath()))
        return
    folder = Path(tempfile.mkdtemp(prefix="spark-etl-bulk-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def _local_copy(jvm: Any, files: TextFiles, part: Any, local: Path) -> Iterator[str]:
    """A path on the driver to ``part``: itself if local, else a copy, removed afterwards."""
    if files.is_local:
        yield str(part.toUri().getPath())
        return
    target = local / str(part.getName())
    files.filesystem.copyToLocalFile(False, part, jvm.org.apache.hadoop.fs.Path(str(target)), True)
    try:
        yield str(target)
    finally:
        target.unlink(missing_ok=True)


def _delete_quietly(filesystem: Any, path: Any) -> None:
    try:
        filesystem.delete(path, True)
    except Exception as exc:
        if not is_jvm_error(exc):
            raise
        logger.warning("Could not delete the bulk load files at %s: %s", path, exc)
