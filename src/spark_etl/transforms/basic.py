"""Row and column transforms: filter, select, derive (alias map), cast, rename, drop, dedup.

All of them work on batch and streaming DataFrames. ``dedup`` keeps the first row per key by
``row_number`` on a batch, and uses ``dropDuplicates`` / ``dropDuplicatesWithinWatermark`` on a
stream, where the first row to arrive wins.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_etl.transforms.registry import (
    ColumnName,
    Duration,
    Expression,
    TransformParams,
    quote,
    register,
)

_ROW = "__spark_etl_dedup_row"


class FilterParams(TransformParams):
    """Parameters of ``filter``.

    Attributes:
        condition: a Spark SQL boolean expression; rows where it is true are kept (null drops).
    """

    condition: Expression


class SelectParams(TransformParams):
    """Parameters of ``select``.

    Attributes:
        columns: the columns to keep, in output order (``a.b`` selects a nested field as ``b``).
    """

    columns: list[ColumnName] = Field(min_length=1)

    def columns_used(self) -> set[str]:
        """The selected columns."""
        return set(self.columns)


class DeriveParams(TransformParams):
    """Parameters of ``derive`` (alias ``map``).

    Attributes:
        columns: new (or replaced) column name -> Spark SQL expression. Every expression sees the
            input's columns, not the other new ones: chain two steps to build on a new column.
    """

    columns: dict[ColumnName, Expression] = Field(min_length=1)


class CastParams(TransformParams):
    """Parameters of ``cast``.

    Attributes:
        columns: top-level column name -> Spark type (``double``, ``decimal(10,2)``,
            ``timestamp``, ``map<string,bigint>``).
    """

    columns: dict[ColumnName, Expression] = Field(min_length=1)

    def columns_used(self) -> set[str]:
        """The columns to cast."""
        return {quote(c) for c in self.columns}


class RenameParams(TransformParams):
    """Parameters of ``rename``.

    Attributes:
        columns: old top-level column name -> new name.
    """

    columns: dict[ColumnName, ColumnName] = Field(min_length=1)

    def columns_used(self) -> set[str]:
        """The columns to rename."""
        return {quote(c) for c in self.columns}


class DropParams(TransformParams):
    """Parameters of ``drop``.

    Attributes:
        columns: top-level column names to remove.
    """

    columns: list[ColumnName] = Field(min_length=1)

    def columns_used(self) -> set[str]:
        """The columns to drop."""
        return {quote(c) for c in self.columns}


class DedupParams(TransformParams):
    """Parameters of ``dedup``.

    Attributes:
        keys: top-level columns that identify a row; one row per distinct key is kept.
        order_by: batch only: the row kept is the first by this column (nulls last); remaining
            ties are broken by the other columns, so the result is deterministic.
        descending: batch only: order ``order_by`` from the largest value (keep the latest).
        watermark_column: streaming only: event-time column for ``dropDuplicatesWithinWatermark``,
            which bounds the state; without it a stream uses ``dropDuplicates`` (unbounded state).
        watermark_delay: streaming only: set the watermark here (``withWatermark``); leave it out
            when the input already carries a watermark on ``watermark_column``.
    """

    keys: list[ColumnName] = Field(min_length=1)
    order_by: ColumnName | None = None
    descending: bool = False
    watermark_column: ColumnName | None = None
    watermark_delay: Duration | None = None

    @model_validator(mode="after")
    def _delay_needs_column(self) -> Self:
        if self.watermark_delay is not None and self.watermark_column is None:
            raise ValueError("watermark_delay needs watermark_column (the event-time column)")
        return self

    def columns_used(self) -> set[str]:
        """The keys, the ordering column and the watermark column."""
        named = [*self.keys, self.order_by, self.watermark_column]
        return {quote(c) for c in named if c is not None}


@register("filter", FilterParams)
def filter_rows(df: DataFrame, params: FilterParams, **inputs: DataFrame) -> DataFrame:
    """Keep the rows where a Spark SQL condition is true.

    Args:
        df: the input.
        params: the condition.
        **inputs: none.

    Returns:
        The matching rows.
    """
    return df.filter(F.expr(params.condition))


@register("select", SelectParams)
def select_columns(df: DataFrame, params: SelectParams, **inputs: DataFrame) -> DataFrame:
    """Keep only the listed columns, in that order.

    Args:
        df: the input.
        params: the columns.
        **inputs: none.

    Returns:
        The projection.
    """
    return df.select(*params.columns)


@register("derive", DeriveParams)
@register("map", DeriveParams)
def derive_columns(df: DataFrame, params: DeriveParams, **inputs: DataFrame) -> DataFrame:
    """Add or replace columns computed by Spark SQL expressions.

    Args:
        df: the input.
        params: new column name -> expression.
        **inputs: none.

    Returns:
        The input with the new columns (replaced ones keep their position).
    """
    return df.withColumns({name: F.expr(sql) for name, sql in params.columns.items()})


@register("cast", CastParams)
def cast_columns(df: DataFrame, params: CastParams, **inputs: DataFrame) -> DataFrame:
    """Change the type of columns in place.

    Under ANSI mode (Spark 4's default) a value that does not convert fails the job; to get null
    instead, use ``derive`` with ``try_cast(column AS type)``.

    Args:
        df: the input.
        params: column -> Spark type.
        **inputs: none.

    Returns:
        The input with the columns cast in place.
    """
    return df.withColumns({c: F.col(quote(c)).cast(t) for c, t in params.columns.items()})


@register("rename", RenameParams)
def rename_columns(df: DataFrame, params: RenameParams, **inputs: DataFrame) -> DataFrame:
    """Rename top-level columns.

    Args:
        df: the input.
        params: old name -> new name.
        **inputs: none.

    Returns:
        The input with the columns renamed in place.
    """
    return df.withColumnsRenamed(dict(params.columns))


@register("drop", DropParams)
def drop_columns(df: DataFrame, params: DropParams, **inputs: DataFrame) -> DataFrame:
    """Remove top-level columns.

    Args:
        df: the input.
        params: the columns to remove.
        **inputs: none.

    Returns:
        The input without them.
    """
    return df.drop(*params.columns)


@register("dedup", DedupParams)
def dedup(df: DataFrame, params: DedupParams, **inputs: DataFrame) -> DataFrame:
    """Keep one row per key: the first by ``order_by`` on a batch, the first to arrive on a stream.

    Args:
        df: the input.
        params: the keys, the batch ordering and the streaming watermark.
        **inputs: none.

    Returns:
        One row per distinct key, with the input's columns.
    """
    if not df.isStreaming:
        return _dedup_batch(df, params)
    if params.watermark_column is None:
        return df.dropDuplicates(params.keys)
    if params.watermark_delay is not None:
        df = df.withWatermark(params.watermark_column, params.watermark_delay)
    return df.dropDuplicatesWithinWatermark(params.keys)


def _dedup_batch(df: DataFrame, params: DedupParams) -> DataFrame:
    ordering = []
    if params.order_by is not None:
        first = F.col(quote(params.order_by))
        ordering.append(first.desc_nulls_last() if params.descending else first.asc_nulls_last())
    ordering.extend(_tie_breakers(df, [*params.keys, params.order_by]))
    window = Window.partitionBy(*[F.col(quote(k)) for k in params.keys])
    window = window.orderBy(*ordering) if ordering else window.orderBy(F.lit(1))
    ranked = df.withColumn(_ROW, F.row_number().over(window))
    return ranked.filter(F.col(_ROW) == 1).drop(_ROW)


def _tie_breakers(df: DataFrame, used: list[str | None]) -> list[Column]:
    taken = {c.lower() for c in used if c is not None}
    return [
        F.col(quote(f.name)).asc_nulls_last()
        for f in df.schema.fields
        if f.name.lower() not in taken and _orderable(f.dataType)
    ]


def _orderable(dtype: T.DataType) -> bool:
    if isinstance(dtype, T.MapType | T.VariantType):
        return False
    if isinstance(dtype, T.ArrayType):
        return _orderable(dtype.elementType)
    if isinstance(dtype, T.StructType):
        return all(_orderable(f.dataType) for f in dtype.fields)
    return True
