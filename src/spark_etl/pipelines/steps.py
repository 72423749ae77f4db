"""The generic node of spark-etl: run a list of registered transforms over a DataFrame.

A pipeline's ``parameters_<name>.yml`` holds the steps::

    - {transform: join, params: {on: [user_id], how: left}}
    - {transform: select, params: {columns: [user_id, country]}}

A transform that takes another DataFrame (``join`` takes ``right``) gets the node input of that
name; the transform and its parameters are validated before Spark plans anything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pyspark.sql import DataFrame

from spark_etl.transforms import apply, get


def run_steps(df: DataFrame, steps: Sequence[Mapping[str, Any]], **inputs: DataFrame) -> DataFrame:
    """Apply ``steps`` in order; a step's extra DataFrames are the node inputs of those names."""
    for step in steps:
        transform = get(step["transform"])
        others = {name: inputs[name] for name in transform.inputs if name in inputs}
        df = apply(df, transform.name, step.get("params", {}), **others)
    return df
