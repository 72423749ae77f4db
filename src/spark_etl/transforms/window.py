"""Windows: event-time ``time_window`` aggregation (batch and streaming) and ``window_function``.

``time_window`` groups rows into tumbling windows (``window_duration`` only) or sliding ones (with
``slide_duration``), optionally by more columns, and aggregates each group. With ``watermark`` the
input gets ``withWatermark(time_column, watermark)``: on a stream the watermark is the latest event
time seen minus that delay; a window whose end it has passed is emitted once (``append`` output)
and its state freed, and rows arriving in a later micro-batch for such a window are dropped.

``window_function`` computes ranks, lag/lead and running sums over ordered partitions; Spark allows
that on batch DataFrames only, so a streaming input is refused.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pyspark.sql import Column, DataFrame, Window, WindowSpec
from pyspark.sql import functions as F

from spark_etl.transforms.aggregate import (
    Aggregation,
    aggregate_column,
    output_name,
    unique_names,
)
from spark_etl.transforms.registry import (
    ColumnName,
    Duration,
    TransformParams,
    duration_micros,
    quote,
    register,
    require_batch,
)

WindowFn = Literal["row_number", "rank", "dense_rank", "lag", "lead", "running_sum"]
_RANKERS = {"row_number": F.row_number, "rank": F.rank, "dense_rank": F.dense_rank}
_OFFSET = {"lag", "lead"}
_WINDOW = "__spark_etl_window"


class TimeWindowParams(TransformParams):
    """Parameters of ``time_window``.

    Attributes:
        time_column: the event-time column (timestamp).
        window_duration: the window length, e.g. ``10 minutes``.
        slide_duration: how far consecutive windows start apart (sliding windows); leave it out
            for tumbling windows.
        watermark: how late an event may arrive, e.g. ``5 minutes`` (``withWatermark``); needed
            for ``append`` output on a stream.
        group_by: more grouping columns besides the window.
        aggregations: as in ``aggregate``, except ``collect_map``.
    """

    time_column: ColumnName
    window_duration: Duration
    slide_duration: Duration | None = None
    watermark: Duration | None = None
    group_by: list[ColumnName] = Field(default_factory=list)
    aggregations: list[Aggregation] = Field(min_length=1)

    @field_validator("aggregations")
    @classmethod
    def _no_collect_map(cls, value: list[Aggregation]) -> list[Aggregation]:
        for agg in value:
            if agg.function == "collect_map":
                raise ValueError(
                    "'collect_map' is not available in time_window; use 'aggregate' on a batch"
                )
        return value

    @model_validator(mode="after")
    def _check(self) -> Self:
        window = duration_micros(self.window_duration)
        if window == 0:
            raise ValueError("'window_duration' must be longer than zero")
        if (
            self.slide_duration is not None
            and not 0 < duration_micros(self.slide_duration) <= window
        ):
            raise ValueError(
                "'slide_duration' must be longer than zero and at most 'window_duration'"
            )
        names = [a.name for a in self.aggregations]
        unique_names(names, ["window_start", "window_end", *self.group_by])
        return self

    def columns_used(self) -> set[str]:
        """The time column, the grouping columns and every aggregated column."""
        used = {quote(self.time_column)} | {quote(g) for g in self.group_by}
        return used | {a.column for a in self.aggregations if a.column is not None}


def _sort_key(value: object) -> object:
    return {"column": value} if isinstance(value, str) else value


class SortKey(BaseModel):
    """One ordering column of ``window_function``; a plain string means ascending.

    Attributes:
        column: the column to order by.
        descending: order from the largest value; nulls come last either way.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    column: ColumnName
    descending: bool = False

    def spark(self) -> Column:
        """The Spark sort expression."""
        col = F.col(self.column)
        return col.desc_nulls_last() if self.descending else col.asc_nulls_last()


class WindowFunction(BaseModel):
    """One output column of ``window_function``.

    Attributes:
        function: ``row_number``, ``rank``, ``dense_rank``; ``lag``/``lead`` (the value
            ``offset`` rows before/after, null past the partition's edge); ``running_sum``
            (sum from the partition's first row to the current one).
        column: the input column; required by lag, lead and running_sum, unused by the ranks.
        alias: the output column name; defaults to ``<function>`` or ``<function>_<column>``.
        offset: how many rows back (lag) or ahead (lead); lag and lead only.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    function: WindowFn
    column: ColumnName | None = None
    alias: ColumnName | None = None
    offset: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.function in _RANKERS and self.column is not None:
            raise ValueError(f"'{self.function}' takes no 'column'")
        if self.function not in _RANKERS and self.column is None:
            raise ValueError(f"'{self.function}' needs a 'column'")
        if self.offset is not None and self.function not in _OFFSET:
            raise ValueError(f"'offset' applies to lag and lead only, not to '{self.function}'")
        return self

    @property
    def name(self) -> str:
        """The output column name."""
        return output_name(self.function, self.column, self.alias)


class WindowFunctionParams(TransformParams):
    """Parameters of ``window_function``.

    Attributes:
        partition_by: the partition columns (empty: the whole input is one partition).
        order_by: the ordering within a partition: column names, or
            ``{column: ..., descending: true}``.
        functions: the output columns, appended to the input's in the order given.
    """

    partition_by: list[ColumnName] = Field(default_factory=list)
    order_by: list[Annotated[SortKey, BeforeValidator(_sort_key)]] = Field(min_length=1)
    functions: list[WindowFunction] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> Self:
        seen: set[str] = set()
        for fn in self.functions:
            if fn.name.lower() in seen:
                raise ValueError(
                    f"output column '{fn.name}' appears twice; give it another 'alias'"
                )
            seen.add(fn.name.lower())
        return self

    def columns_used(self) -> set[str]:
        """The partition and ordering columns and every function's column."""
        used = {quote(p) for p in self.partition_by} | {k.column for k in self.order_by}
        return used | {f.column for f in self.functions if f.column is not None}


@register("time_window", TimeWindowParams)
def time_window(df: DataFrame, params: TimeWindowParams, **inputs: DataFrame) -> DataFrame:
    """Aggregate rows per event-time window (and grouping columns).

    Args:
        df: the input, batch or streaming.
        params: the time column, window, watermark, grouping and aggregations.
        **inputs: none.

    Returns:
        One row per window and group: ``window_start``, ``window_end``, the grouping columns, then
        the aggregates in the order given.
    """
    if params.watermark is not None:
        df = df.withWatermark(params.time_column, params.watermark)
    window = F.window(params.time_column, params.window_duration, params.slide_duration)
    keys = [window.alias(_WINDOW), *[F.col(quote(g)) for g in params.group_by]]
    grouped = df.groupBy(*keys).agg(*[aggregate_column(a) for a in params.aggregations])
    return grouped.select(
        F.col(f"{_WINDOW}.start").alias("window_start"),
        F.col(f"{_WINDOW}.end").alias("window_end"),
        *[quote(g) for g in params.group_by],
        *[quote(a.name) for a in params.aggregations],
    )


@register("window_function", WindowFunctionParams)
def window_function(df: DataFrame, params: WindowFunctionParams, **inputs: DataFrame) -> DataFrame:
    """Add ranking, lag/lead and running-sum columns over ordered partitions (batch only).

    Args:
        df: the input; must be a batch DataFrame.
        params: the partitioning, ordering and functions.
        **inputs: none.

    Returns:
        The input with one more column per function.

    Raises:
        TransformError: if ``df`` is streaming.
    """
    require_batch(
        df,
        "window_function",
        "On a stream use 'time_window' for per-window aggregates or 'dedup' with a watermark.",
    )
    spec = Window.partitionBy(*[F.col(quote(p)) for p in params.partition_by]).orderBy(
        *[k.spark() for k in params.order_by]
    )
    return df.withColumns({f.name: _window_column(f, spec) for f in params.functions})


def _window_column(fn: WindowFunction, spec: WindowSpec) -> Column:
    if fn.function in _RANKERS:
        return _RANKERS[fn.function]().over(spec)
    column = F.col(str(fn.column))
    if fn.function == "lag":
        return F.lag(column, fn.offset or 1).over(spec)
    if fn.function == "lead":
        return F.lead(column, fn.offset or 1).over(spec)
    frame = spec.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    return F.sum(column).over(frame)
