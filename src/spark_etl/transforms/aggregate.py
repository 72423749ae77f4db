"""Group-by aggregation: ``aggregate``, and the aggregation spec ``time_window`` shares.

``collect_map`` counts the rows per value of a column into a ``map<string,bigint>`` (like
``event_type_counts``): it groups by the keys plus that column, counts, and folds the counts back
with ``map_from_entries(array_sort(collect_list(struct)))``. That is two aggregations in a row, so
it is batch only; every other function works on streams too (``count_distinct`` excepted: Spark
has no exact distinct count on a stream).
"""

from __future__ import annotations

from functools import reduce
from operator import and_
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from spark_etl.transforms.exceptions import TransformError
from spark_etl.transforms.registry import (
    ColumnName,
    TransformParams,
    quote,
    register,
    require_batch,
)

AggFunction = Literal["count", "sum", "min", "max", "avg", "count_distinct", "collect_map"]
_ROUNDABLE = {"sum", "avg"}
_KEY = "__spark_etl_key"
_GROUP = "__spark_etl_group"
_ROWS = "__spark_etl_rows"
_COUNT = "__spark_etl_count"


class Aggregation(BaseModel):
    """One aggregate output column.

    Attributes:
        function: what to compute; ``count`` without a column counts rows, with one non-nulls;
            ``collect_map`` gives ``{value of column: row count}`` (null values are not counted).
        column: the input column; required by every function except ``count``.
        alias: the output column name; defaults to ``<function>_<column>`` (``count`` for rows).
        round: decimal places to round a ``sum`` or ``avg`` to.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    function: AggFunction
    column: ColumnName | None = None
    alias: ColumnName | None = None
    round: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.column is None and self.function != "count":
            raise ValueError(f"'{self.function}' needs a 'column' to aggregate")
        if self.round is not None and self.function not in _ROUNDABLE:
            raise ValueError(f"'round' applies to sum and avg only, not to '{self.function}'")
        return self

    @property
    def name(self) -> str:
        """The output column name."""
        return output_name(self.function, self.column, self.alias)


def output_name(function: str, column: str | None, alias: str | None) -> str:
    """The column an aggregation or window function writes: ``alias``, else
    ``<function>_<column>``, else ``<function>``."""
    if alias is not None:
        return alias
    return function if column is None else f"{function}_{column}"


def unique_names(outputs: list[str], taken: list[str]) -> None:
    """Check that output column names repeat neither each other nor a column already taken.

    Args:
        outputs: the output names of the aggregations or window functions.
        taken: the names the output already has (the grouping columns).

    Raises:
        ValueError: naming the repeated output column (pydantic reports it with its path).
    """
    seen = {t.lower() for t in taken}
    for name in outputs:
        if name.lower() in seen:
            raise ValueError(f"output column '{name}' appears twice; give it another 'alias'")
        seen.add(name.lower())


def aggregate_column(agg: Aggregation) -> Column:
    """The Spark aggregate expression of one spec (``collect_map`` excepted).

    Args:
        agg: the spec.

    Returns:
        The aggregate column, aliased to the output name.
    """
    source = F.lit(1) if agg.column is None else F.col(agg.column)
    functions = {
        "count": F.count,
        "sum": F.sum,
        "min": F.min,
        "max": F.max,
        "avg": F.avg,
        "count_distinct": F.count_distinct,
    }
    result = functions[agg.function](source)
    if agg.round is not None:
        result = F.round(result, agg.round)
    return result.alias(agg.name)


class AggregateParams(TransformParams):
    """Parameters of ``aggregate``.

    Attributes:
        group_by: the grouping columns (empty: one row for the whole input).
        aggregations: the output columns, in order after the grouping columns.
    """

    group_by: list[ColumnName] = Field(default_factory=list)
    aggregations: list[Aggregation] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> Self:
        unique_names([a.name for a in self.aggregations], self.group_by)
        return self

    def columns_used(self) -> set[str]:
        """The grouping columns and every aggregated column."""
        used = {quote(g) for g in self.group_by}
        return used | {a.column for a in self.aggregations if a.column is not None}


@register("aggregate", AggregateParams)
def aggregate(df: DataFrame, params: AggregateParams, **inputs: DataFrame) -> DataFrame:
    """Group rows and compute aggregates per group.

    Args:
        df: the input.
        params: the grouping columns and aggregations.
        **inputs: none.

    Returns:
        One row per group: the grouping columns, then the aggregates in the order given. Without
        ``group_by``, one row (also for an empty input).

    Raises:
        TransformError: if a batch-only function (``collect_map``, ``count_distinct``) is asked of a
            streaming input.
    """
    _check_streaming(df, params)
    keys = [F.col(quote(g)) for g in params.group_by]
    plain = [aggregate_column(a) for a in params.aggregations if a.function != "collect_map"]
    maps = [a for a in params.aggregations if a.function == "collect_map"]
    result = df.groupBy(*keys).agg(*plain, F.count(F.lit(1)).alias(_ROWS))
    for agg in maps:
        result = _with_value_counts(result, df, params.group_by, agg)
    names = [quote(g) for g in params.group_by] + [quote(a.name) for a in params.aggregations]
    return result.select(*names)


def _check_streaming(df: DataFrame, params: AggregateParams) -> None:
    functions = {a.function for a in params.aggregations}
    if df.isStreaming and "count_distinct" in functions:
        raise TransformError(
            "Transform 'aggregate': 'count_distinct' is not supported on a streaming input; "
            "aggregate a batch, or deduplicate first and use 'count'.",
            "aggregate",
        )
    if "collect_map" in functions:
        require_batch(df, "aggregate", "Remove the 'collect_map' aggregation for a stream.")


def _with_value_counts(
    result: DataFrame, df: DataFrame, group_by: list[str], agg: Aggregation
) -> DataFrame:
    counts = _value_counts(df, group_by, agg)
    temp = [f"{_GROUP}{i}" for i in range(len(group_by))]
    if group_by:
        pairs = zip(group_by, temp, strict=True)
        cond = reduce(and_, [result[quote(g)].eqNullSafe(counts[t]) for g, t in pairs])
        joined = result.join(counts, cond, "left").drop(*temp)
    else:
        joined = result.crossJoin(counts)
    empty = F.create_map().cast("map<string,bigint>")
    return joined.withColumn(agg.name, F.coalesce(F.col(quote(agg.name)), empty))


def _value_counts(df: DataFrame, group_by: list[str], agg: Aggregation) -> DataFrame:
    temp = [f"{_GROUP}{i}" for i in range(len(group_by))]
    keys = [F.col(quote(g)).alias(t) for g, t in zip(group_by, temp, strict=True)]
    value = F.col(str(agg.column)).cast("string").alias(_KEY)
    pairs = df.select(*keys, value).filter(F.col(_KEY).isNotNull())
    counted = pairs.groupBy(*temp, _KEY).agg(F.count(F.lit(1)).alias(_COUNT))
    entries = F.array_sort(F.collect_list(F.struct(_KEY, _COUNT)))
    return counted.groupBy(*temp).agg(F.map_from_entries(entries).alias(agg.name))
