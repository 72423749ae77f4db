"""``join``: combine the node's input (the left side) with a second input passed as ``right``.

Join on key columns with ``on`` (each key appears once in the output), or on a Spark SQL
``condition`` that names the sides ``left`` and ``right`` (``left.id = right.user_id``; every
column of both sides is kept, so rename or drop clashing names in a later step). ``broadcast``
ships the right side to every executor: use it when the right side is small. A stream may be
joined with a batch right side; stream-stream joins need watermarks on both sides (Spark checks
that when the query starts).
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from spark_etl.transforms.exceptions import TransformError
from spark_etl.transforms.registry import (
    ColumnName,
    Expression,
    TransformParams,
    check_columns,
    quote,
    register,
)

JoinHow = Literal["inner", "left", "right", "full", "semi", "anti"]
_SPARK_HOW = {
    "inner": "inner",
    "left": "left_outer",
    "right": "right_outer",
    "full": "full_outer",
    "semi": "left_semi",
    "anti": "left_anti",
}


class JoinParams(TransformParams):
    """Parameters of ``join``.

    Attributes:
        how: ``inner``, ``left``, ``right``, ``full`` (outer joins), ``semi`` (left rows that have
            a match, left columns only) or ``anti`` (left rows without a match).
        on: top-level key columns present on both sides, matched by equality.
        condition: a Spark SQL boolean expression over ``left.<column>`` and ``right.<column>``;
            give either ``on`` or ``condition``.
        broadcast: broadcast the right side (a small lookup table) instead of shuffling both.
    """

    how: JoinHow = "inner"
    on: list[ColumnName] | None = Field(default=None, min_length=1)
    condition: Expression | None = None
    broadcast: bool = False

    @model_validator(mode="after")
    def _one_of_on_or_condition(self) -> Self:
        if (self.on is None) == (self.condition is None):
            raise ValueError("give exactly one of 'on' (key columns) or 'condition' (expression)")
        return self

    def columns_used(self) -> set[str]:
        """The key columns, which the left side must have."""
        return {quote(c) for c in self.on or []}


@register("join", JoinParams, inputs=("right",))
def join(df: DataFrame, params: JoinParams, **inputs: DataFrame) -> DataFrame:
    """Join the input (left side) with the ``right`` input.

    Args:
        df: the left side.
        params: how, and on which keys or condition.
        **inputs: ``right``: the right side.

    Returns:
        The joined rows.

    Raises:
        TransformError: if no ``right`` input is given.
        UnknownColumnError: if a key column is missing on the right side.
    """
    right = _right_side(inputs)
    if params.broadcast:
        right = F.broadcast(right)
    how = _SPARK_HOW[params.how]
    if params.on is not None:
        check_columns("join", {quote(c) for c in params.on}, right.columns, params, side="right")
        return df.join(right, params.on, how)
    condition = F.expr(str(params.condition))
    return df.alias("left").join(right.alias("right"), condition, how)


def _right_side(inputs: dict[str, DataFrame]) -> DataFrame:
    if "right" not in inputs:
        raise TransformError(
            "Transform 'join' needs its second input as the keyword 'right' "
            "(apply(df, 'join', params, right=other)); add it to the node's inputs.",
            "join",
        )
    return inputs["right"]
