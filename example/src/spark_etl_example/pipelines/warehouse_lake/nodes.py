"""Nodes of ``warehouse_lake`` and ``warehouse_restatement``: the sales facts as a Delta table on
S3, and what late rows changed in it since its first load (Delta's time travel)."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F


def lake_facts(facts: DataFrame) -> DataFrame:
    """The facts loaded since the last run, with the day they were sold."""
    return facts.withColumn("sale_date", F.to_date("sold_at"))


def _daily_revenue(facts: DataFrame, name: str) -> DataFrame:
    return facts.groupBy("sale_date").agg(
        F.sum("amount").alias(name), F.count(F.lit(1)).alias(f"{name}_sales")
    )


def restated_revenue(now: DataFrame, first: DataFrame) -> DataFrame:
    """Each day's revenue as the table has it now and as its first version had it, for the days
    the first version had and that changed since: what late rows restated."""
    joined = _daily_revenue(first, "revenue_first_load").join(
        _daily_revenue(now, "revenue_now"), "sale_date", "inner"
    )
    changed = joined.filter(F.col("revenue_now") != F.col("revenue_first_load"))
    return changed.select(
        "sale_date",
        F.col("revenue_first_load").cast("decimal(14,2)").alias("revenue_first_load"),
        F.col("revenue_now").cast("decimal(14,2)").alias("revenue_now"),
        (F.col("revenue_now") - F.col("revenue_first_load"))
        .cast("decimal(14,2)")
        .alias("restated_by"),
        F.col("revenue_first_load_sales").alias("sales_first_load"),
        F.col("revenue_now_sales").alias("sales_now"),
    )
