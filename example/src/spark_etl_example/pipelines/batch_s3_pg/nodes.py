"""Nodes of ``batch_s3_pg``: pure functions (DataFrame in, DataFrame out) that run spark-etl's
registered transforms with the pipeline's parameters (``conf/base/parameters_batch_s3_pg.yml``).

The transforms validate their parameters and every column they name before Spark plans anything;
a node adds what is particular to the pipeline.
"""

from __future__ import annotations

from typing import Any

from pyspark.sql import DataFrame
from spark_etl.transforms import apply


def parse_user_events(raw: DataFrame, params: dict[str, Any]) -> DataFrame:
    """Extract: the raw CSV columns typed as the ``user_event`` contract wants them."""
    return apply(raw, "derive", params["derive"])


def summarise_users(events: DataFrame, params: dict[str, Any]) -> DataFrame:
    """Transform: one ``user_summary`` row per user (aggregate, then finish the columns)."""
    totals = apply(events, "aggregate", params["aggregate"])
    finished = apply(totals, "derive", params["derive"])
    return apply(finished, "select", {"columns": params["columns"]})
