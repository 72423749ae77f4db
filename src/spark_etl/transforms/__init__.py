"""Transforms: pure ``DataFrame -> DataFrame`` functions that nodes pick by name.

A node calls ``apply(df, "dedup", {"keys": ["event_id"]})``: the parameters are validated by the
transform's pydantic model and every column they name is checked against ``df.columns`` before
Spark plans anything, so a typo fails fast with a message naming the transform, the parameter and
the closest valid name. Registered: ``filter``, ``select``, ``derive`` (alias ``map``), ``cast``,
``rename``, ``drop``, ``dedup``, ``aggregate``, ``join``, ``time_window``, ``window_function``.

Adding a transform takes one params model, one function and one registration, in a module of this
package that ``__init__`` imports::

    class UpperParams(TransformParams):  # extra="forbid" is inherited
        column: ColumnName

        def columns_used(self) -> set[str]:
            return {self.column}


    @register("upper", UpperParams)
    def upper(df: DataFrame, params: UpperParams, **inputs: DataFrame) -> DataFrame:
        '''Upper-case one string column.'''
        return df.withColumn(params.column, F.upper(params.column))

Rules: Spark built-in functions and expressions only (no Python UDFs), no I/O, no SparkSession
building, no state outside the registry. Work on streaming input too, or call ``require_batch``.
A transform that needs another DataFrame declares it with ``register(..., inputs=("right",))``
and receives it as a keyword.
"""

from __future__ import annotations

from spark_etl.transforms import aggregate, basic, join, window
from spark_etl.transforms.exceptions import (
    TransformError,
    UnknownColumnError,
    UnknownTransformError,
)
from spark_etl.transforms.registry import (
    ColumnName,
    Duration,
    Expression,
    Transform,
    TransformParams,
    apply,
    check_columns,
    get,
    names,
    register,
    require_batch,
    validate,
)

__all__ = [
    "ColumnName",
    "Duration",
    "Expression",
    "Transform",
    "TransformError",
    "TransformParams",
    "UnknownColumnError",
    "UnknownTransformError",
    "aggregate",
    "apply",
    "basic",
    "check_columns",
    "get",
    "join",
    "names",
    "register",
    "require_batch",
    "validate",
    "window",
]
