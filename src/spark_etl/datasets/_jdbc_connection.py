"""The JDBC strategy's own connection to the database, on the driver's JVM (py4j).

Spark's JDBC reader and writer open their own connections in the tasks; the statements around
them (checks, staging DDL, the commit, metadata lookups) go through a connection opened here with
the same driver class, so they see the database as the tasks do.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from spark_etl._jvm import is_jvm_error, java_error_chain, jvm_of

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from spark_etl.datasets._dialects import Dialect, TableName

# The JDBC dataset's log lines, under its name wherever its helpers live: logging configs and
# filters name the dataset's logger.
logger = logging.getLogger("spark_etl.datasets.jdbc")


def open_connection(
    spark: SparkSession, dialect: Dialect, url: str, properties: dict[str, str]
) -> Any:
    """A JDBC connection to ``url`` opened on the driver's JVM with the dialect's driver (the
    one Spark uses), its connection defaults, then ``properties`` (credentials and any other)."""
    jvm = jvm_of(spark)
    jvm.org.apache.spark.sql.execution.datasources.jdbc.DriverRegistry.register(dialect.driver)
    props = jvm.java.util.Properties()
    for key, value in {**dialect.connection_defaults, **properties}.items():
        props.setProperty(key, value)
    return jvm.java.sql.DriverManager.getConnection(url, props)


class HeldConnection:
    """The driver's connection for one write's statements, opened when first needed and
    opened anew if the server closed it while Spark loaded the staging table."""

    _VALID_TIMEOUT_S = 5

    def __init__(self, open_connection: Callable[[], Any]) -> None:
        """Hold the connections ``open_connection`` opens (none yet)."""
        self._open = open_connection
        self._conn: Any = None

    def get(self) -> Any:
        """The open connection: the one held if it is still valid, else a new one."""
        if self._conn is not None and not self._conn.isValid(self._VALID_TIMEOUT_S):
            self.close()
        if self._conn is None:
            self._conn = self._open()
        return self._conn

    def close(self) -> None:
        """Close the connection held, if any; an error closing it is only logged."""
        if self._conn is None:
            return
        try:
            self._conn.close()
        except Exception as exc:  # a broken connection cannot fail the write after its commit
            logger.debug("Closing a JDBC connection failed: %s", exc)
        self._conn = None


@dataclass(frozen=True)
class Bound:
    """A statement and the text of its ``?`` parameters, in order."""

    sql: str
    parameters: tuple[str, ...]


def in_transaction(conn: Any, statements: list[str] | list[Bound]) -> list[int]:
    """Run ``statements`` in one transaction (rolled back if one fails); their update counts."""
    conn.setAutoCommit(False)
    try:
        counts = [execute(conn, sql) for sql in statements]
        conn.commit()
        return counts
    except Exception:
        conn.rollback()
        raise
    finally:
        _autocommit_again(conn)


def _autocommit_again(conn: Any) -> None:
    """Back to autocommit for the statements after a commit; a connection that broke meanwhile
    is opened anew by :class:`HeldConnection` (its error is not the write's)."""
    try:
        conn.setAutoCommit(True)
    except Exception as exc:
        if not is_jvm_error(exc):
            raise
        logger.debug("Could not restore autocommit: %s", java_error_chain(exc)[0])


def execute(conn: Any, sql: str | Bound) -> int:
    """Run one statement (with its parameters bound); its update count."""
    if isinstance(sql, Bound):
        prepared = conn.prepareStatement(sql.sql)
        try:
            for position, value in enumerate(sql.parameters, start=1):
                prepared.setString(position, value)
            return int(prepared.executeUpdate())
        finally:
            prepared.close()
    statement = conn.createStatement()
    try:
        return int(statement.executeUpdate(sql))
    finally:
        statement.close()


def query(conn: Any, sql: str) -> list[tuple[Any, ...]]:
    """Run one query; its rows, every value as text."""
    statement = conn.createStatement()
    try:
        rs = statement.executeQuery(sql)
        width = rs.getMetaData().getColumnCount()
        rows = []
        while rs.next():
            rows.append(tuple(rs.getString(i) for i in range(1, width + 1)))
        return rows
    finally:
        statement.close()


def table_exists(conn: Any, dialect: Dialect, table: TableName) -> bool:
    """Whether the database's metadata knows ``table``, by its name as given or in lower case."""
    catalog, schema = dialect.metadata_scope(conn, table)
    meta = conn.getMetaData()
    for name in {table.name, table.name.lower()}:
        rs = meta.getTables(catalog, schema, name, None)
        try:
            if rs.next():
                return True
        finally:
            rs.close()
    return False


def unique_column_sets(conn: Any, dialect: Dialect, table: TableName) -> list[set[str]]:
    """The columns (in lower case) of each unique index of ``table``, its primary key included."""
    catalog, schema = dialect.metadata_scope(conn, table)
    meta = conn.getMetaData()
    found: dict[str, set[str]] = {}
    rs = meta.getIndexInfo(catalog, schema, dialect.metadata_name(table), True, False)
    try:
        while rs.next():
            column = rs.getString("COLUMN_NAME")
            if column:
                found.setdefault(rs.getString("INDEX_NAME"), set()).add(column.lower())
    finally:
        rs.close()
    return list(found.values())


def server_major_version(conn: Any) -> int:
    """The major version of the database server."""
    return int(conn.getMetaData().getDatabaseMajorVersion())


def server_version(conn: Any) -> str:
    """The database server's version as it names it (``15.8``), for messages."""
    return str(conn.getMetaData().getDatabaseProductVersion())
