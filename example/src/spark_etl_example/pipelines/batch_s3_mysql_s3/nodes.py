"""Nodes of ``batch_s3_mysql_s3``: pure functions that run spark-etl's registered transforms with
the pipeline's parameters (``conf/base/parameters_batch_s3_mysql_s3.yml``)."""

from __future__ import annotations

from typing import Any

from pyspark.sql import DataFrame
from spark_etl.transforms import apply


def parse_transactions(raw: DataFrame, params: dict[str, Any]) -> DataFrame:
    """Extract: the raw CSV columns typed as the ``transaction`` contract wants them."""
    return apply(raw, "derive", params["derive"])


def enrich_transactions(
    transactions: DataFrame, users: DataFrame, params: dict[str, Any]
) -> DataFrame:
    """Transform: each transaction with its user's country and segment (a broadcast join)."""
    joined = apply(transactions, "join", params["join"], right=users)
    return apply(joined, "select", {"columns": params["columns"]})
