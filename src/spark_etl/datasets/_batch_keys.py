"""Keys repeated within one upsert batch: kept once (``dedup_order_by``), or named in the error.

The rule every upserting sink keeps: a batch that holds one key twice is refused as a whole,
naming the keys, unless ``dedup_order_by`` says which row wins.
"""

from __future__ import annotations

from typing import Any

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from spark_etl.datasets.exceptions import DatasetConfigError, WriteRejectedError

MAX_REPORTED_DUPLICATES = 10
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
    """The error refusing an upsert whose batch ``data`` repeats keys, naming them from the
    batch (the error path only; ``database_says`` covers keys the sink alone found equal, such
    as 'A' and 'a' under a database's collation)."""
    rows = (
        data.groupBy(*keys)
        .count()
        .filter("count > 1")
        .orderBy(*keys)
        .limit(MAX_REPORTED_DUPLICATES)
        .collect()
    )
    return repeated_keys_error([tuple(row) for row in rows], keys, table, database_says)


def repeated_keys_error(
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
