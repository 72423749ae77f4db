"""Keys repeated within one upsert batch: kept once (``dedup_order_by``), or named in the error.

A repeated key is refused without an extra pass over the data: the database finds it (the
upsert statement itself, or the staging table's primary key while loading) and only then are the
repeated keys looked up, to name them: from the batch, or from the staging table.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from spark_etl._jvm import java_error_chain, sql_state
from spark_etl.datasets._jdbc_connection import query
from spark_etl.datasets.exceptions import DatasetConfigError, WriteRejectedError

if TYPE_CHECKING:
    from spark_etl.datasets._dialects import Dialect, TableName

_MAX_REPORTED_DUPLICATES = 10
_DUPLICATE_ENTRY = re.compile(r"Duplicate entry '.*?' for key '[^']*'")
_CARDINALITY_VIOLATION = "21000"  # PostgreSQL: ON CONFLICT DO UPDATE met a key twice
_RANK = "__spark_etl_rank"


def keep_latest(data: DataFrame, keys: list[str], order_by: str, columns: list[str]) -> DataFrame:
    """One row per key of ``data`` (whose columns are ``columns``): the one with the greatest
    ``order_by``, ties going to the greatest row.

    Raises:
        DatasetConfigError: when ``order_by`` is not one of ``columns``.
    """
    if order_by not in columns:
        raise DatasetConfigError(
            f"dedup_order_by column '{order_by}' is not in the data; columns: {', '.join(columns)}"
        )
    ordering = [F.col(order_by).desc_nulls_last()] + [
        F.col(c).desc_nulls_last() for c in columns if c != order_by
    ]
    window = Window.partitionBy(*keys).orderBy(*ordering)
    return data.withColumn(_RANK, F.row_number().over(window)).filter(f"{_RANK} = 1").drop(_RANK)


def repeated_in_batch(
    data: DataFrame, keys: list[str], *, table: str, database_says: str
) -> WriteRejectedError:
    """The staging table refused a key twice while loading: name the keys from the batch
    (the error path only; the database's own message covers keys equal only under its
    collation, such as 'A' and 'a')."""
    rows = (
        data.groupBy(*keys)
        .count()
        .filter("count > 1")
        .orderBy(*keys)
        .limit(_MAX_REPORTED_DUPLICATES)
        .collect()
    )
    return _repeated_keys_error([tuple(row) for row in rows], keys, table, database_says)


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
    rows = query(conn, dialect.duplicate_keys(staging, keys, _MAX_REPORTED_DUPLICATES))
    return _repeated_keys_error([tuple(row) for row in rows], keys, table, database_says)


def _repeated_keys_error(
    rows: list[tuple[Any, ...]], keys: list[str], table: str, database_says: str
) -> WriteRejectedError:
    """The error that refuses an upsert into ``table`` whose batch repeats the keys of
    ``rows`` (the key's values, then its count), else what the database said."""
    shown = "; ".join(
        ", ".join(f"{k}={v!r}" for k, v in zip(keys, row, strict=False)) + f" ({row[-1]}x)"
        for row in rows
    )
    return WriteRejectedError(
        f"Upsert into '{table}' rejected, nothing written: the batch holds "
        f"the same key more than once ({shown or database_says}). Deduplicate upstream, or "
        "set dedup_order_by to keep the latest row per key."
    )


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
