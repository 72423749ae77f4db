"""Keys repeated within one JDBC upsert batch, found by the database.

A repeated key is refused without an extra pass over the data: the database finds it (the
upsert statement itself, or the staging table's primary key while loading) and only then are the
repeated keys looked up, to name them: from the batch (:mod:`._batch_keys`), or from the staging
table.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from spark_etl._jvm import java_error_chain, sql_state
from spark_etl.datasets._batch_keys import MAX_REPORTED_DUPLICATES, repeated_keys_error
from spark_etl.datasets._jdbc_connection import query
from spark_etl.datasets.exceptions import WriteRejectedError

if TYPE_CHECKING:
    from spark_etl.datasets._dialects import Dialect, TableName

_DUPLICATE_ENTRY = re.compile(r"Duplicate entry '.*?' for key '[^']*'")
_CARDINALITY_VIOLATION = "21000"  # PostgreSQL: ON CONFLICT DO UPDATE met a key twice


def repeated_in_staging(
    conn: Any,
    dialect: Dialect,
    staging: TableName,
    keys: list[str],
    *,
    table: str,
    database_says: str,
) -> WriteRejectedError:
    """The upsert refused a key repeated in the batch: name the keys from the staged rows."""
    rows = query(conn, dialect.duplicate_keys(staging, keys, MAX_REPORTED_DUPLICATES))
    return repeated_keys_error([tuple(row) for row in rows], keys, table, database_says)


def duplicate_entry(exc: Exception) -> str:
    """The database's words for the repeated key (``Duplicate entry 'k' for key 'PRIMARY'``)."""
    for line in java_error_chain(exc):
        found = _DUPLICATE_ENTRY.search(line)
        if found:
            return found.group(0)
    return "a unique-key violation in the staging table"


def is_duplicate_key(exc: Exception) -> bool:
    """A unique-key violation (SQLState 23000 with MySQL's 'Duplicate entry', or 23505)."""
    state = sql_state(exc) or ""
    return state == "23505" or (
        state == "23000" and "Duplicate entry" in " ".join(java_error_chain(exc))
    )


def met_a_key_twice(exc: Exception) -> bool:
    """The upsert statement met one key twice in the staged batch (SQLState 21000)."""
    return sql_state(exc) == _CARDINALITY_VIOLATION
