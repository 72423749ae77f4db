"""Nodes of ``warehouse_star``: a star schema in PostgreSQL from the staging tables.

* ``dim_customer``: SCD Type 2 (``write_mode: scd2``): a customer whose city, segment, name or
  email changed gets a new version; its surrogate key is a hash of the customer and the moment the
  version starts, so a re-run computes the same keys.
* ``dim_product``: Type 1 (``upsert``): the latest values, keyed by the product.
* ``dim_date``: a generated calendar.
* ``fact_sales``: the staged sales loaded since the last run (an incremental source), each with
  the keys of the customer version that was current when it was sold, upserted on the sale:
  a re-run, a late row or a retried run never counts a sale twice.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F


def customer_versions(customers: DataFrame) -> DataFrame:
    """The staged customers with their version's surrogate key."""
    return customers.select(
        F.xxhash64("customer_id", "updated_at").alias("customer_sk"),
        "customer_id",
        "name",
        "email",
        "city",
        "segment",
        "updated_at",
    )


def product_rows(products: DataFrame) -> DataFrame:
    """The staged products keyed as the dimension wants them."""
    return products.select(
        F.col("product_id").alias("product_sk"),
        "product_id",
        "product_name",
        "category",
        "unit_price",
    )


def calendar(params: dict[str, Any]) -> DataFrame:
    """One row per day from ``params['start']`` to ``params['end']``."""
    spark = SparkSession.getActiveSession()
    if spark is None:  # pragma: no cover - Kedro's session starts Spark first
        raise RuntimeError("dim_date needs the project's SparkSession (kedro run).")
    start, end = date.fromisoformat(str(params["start"])), date.fromisoformat(str(params["end"]))
    days = spark.range(1).select(
        F.explode(F.sequence(F.lit(start), F.lit(end), F.expr("INTERVAL 1 DAY"))).alias("day")
    )
    return days.select(
        F.date_format("day", "yyyyMMdd").cast("int").alias("date_key"),
        F.col("day").alias("calendar_date"),
        F.year("day").alias("year"),
        F.quarter("day").alias("quarter"),
        F.month("day").alias("month"),
        F.date_format("day", "MMMM").alias("month_name"),
        F.dayofmonth("day").alias("day_of_month"),
        F.weekofyear("day").alias("iso_week"),
        F.date_format("day", "EEEE").alias("day_name"),
        F.dayofweek("day").isin(1, 7).alias("is_weekend"),
    )


def sales_facts(sales: DataFrame, customers: DataFrame, products: DataFrame) -> DataFrame:
    """The sales with the surrogate keys of their dimensions: the customer's version valid when
    the sale was made (``valid_from <= sold_at < valid_to``), the product, the day."""
    versions = customers.select("customer_sk", "customer_id", "valid_from", "valid_to")
    as_of = (
        (F.col("s.customer_id") == F.col("c.customer_id"))
        & (F.col("s.sold_at") >= F.col("c.valid_from"))
        & (F.col("c.valid_to").isNull() | (F.col("s.sold_at") < F.col("c.valid_to")))
    )
    joined = sales.alias("s").join(versions.alias("c"), as_of, "left")
    joined = joined.join(
        products.select("product_sk", "product_id").alias("p"),
        F.col("s.product_id") == F.col("p.product_id"),
        "left",
    )
    return joined.select(
        F.col("s.sale_id").alias("sale_id"),
        F.date_format("s.sold_at", "yyyyMMdd").cast("int").alias("date_key"),
        F.col("c.customer_sk").alias("customer_sk"),
        F.col("p.product_sk").alias("product_sk"),
        F.col("s.quantity").alias("quantity"),
        F.col("s.amount").alias("amount"),
        F.col("s.sold_at").alias("sold_at"),
        F.col("s.loaded_at").alias("loaded_at"),
    )
