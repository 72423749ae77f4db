"""Nodes of ``warehouse_quality``: the shop's tables, checked and cleaned into staging tables.

The rules are in the catalog (``conf/base/catalog_warehouse.yml``), on the shop tables as they are
loaded (``warn``: what the source is like) and on the staging tables as they are saved (``drop``:
rows the warehouse must not take, to the dead-letter queue with the reason; ``fail``: what must
hold, or nothing is written). The nodes only add what a rule on one table cannot see by itself:
whether a sale's customer exists, and how late a sale arrived.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from spark_etl.transforms import apply


def stage_customers(customers: DataFrame) -> DataFrame:
    """One row per customer: the latest export of each."""
    return apply(
        customers, "dedup", {"keys": ["customer_id"], "order_by": "updated_at", "descending": True}
    )


def stage_products(products: DataFrame) -> DataFrame:
    """The products as the shop has them (their rules warn; nothing is dropped)."""
    return products


def stage_sales(sales: DataFrame, customers: DataFrame) -> DataFrame:
    """One row per sale (the latest sent), with ``customer_known`` (``null`` when the sale names no
    customer, so that the rule on ``customer_id`` alone reports it) and ``arrival_delay_hours``."""
    latest = apply(
        sales, "dedup", {"keys": ["sale_id"], "order_by": "loaded_at", "descending": True}
    )
    known = customers.select("customer_id", F.lit(True).alias("_known")).distinct()
    joined = latest.join(known, "customer_id", "left")
    return joined.select(
        *latest.columns,
        F.when(F.col("customer_id").isNull(), F.lit(None).cast("boolean"))
        .otherwise(F.coalesce(F.col("_known"), F.lit(False)))
        .alias("customer_known"),
        ((F.unix_timestamp("loaded_at") - F.unix_timestamp("sold_at")) / 3600)
        .cast("double")
        .alias("arrival_delay_hours"),
    )
