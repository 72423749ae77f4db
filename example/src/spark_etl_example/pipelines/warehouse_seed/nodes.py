"""The shop's source data for the warehouse gallery: customers, products and sales, generated from
a seed with Spark's own hash (the same seed and day give the same rows on any cluster), with the
quality issues a real source has, in known numbers (:data:`INJECTED`).

Day 1 is the shop on the morning of 1 April 2026 (the load runs at 02:00 UTC): 1,000 customers,
500 products and 100,000 sales, sold from 1 January to 19 March and loaded (``loaded_at``) within
the hour, or days later for the late ones. Each later day adds the sales loaded since the
morning before (10,000, with the same issues in proportion; every one loaded after all of the
day before's, as a source's load time is), changes 10 % of the customers (a new city and
``updated_at``) and adds 20 new ones: what the SCD2 dimension and the incremental fact load are
shown with. Its late sales were sold in the first weeks, so they restate days already loaded.
Every table is the whole state of the source as of that day, so seeding again is idempotent.

Issues, by ``sale_id % 10000`` (each residue picks 10 of the first day's sales, 1 of a later
day's): 1-5 no customer, 11-14 a customer the shop does not have (an orphan), 21-23 a negative
amount, 31-50 loaded 3 to 10 days after the sale (late), 61-70 sent twice (a duplicate row, a
minute later). Customers: every 100th from 7 has no email, 13 and 263 and ... (every 250th from
13) have the segment ``n/a``, 1 to 5 are exported twice. Products: every 100th from 50 has no
category, 99 and 349 a negative price.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

CUSTOMERS = 1_000
PRODUCTS = 500
FIRST_DAY_SALES = 100_000
DAILY_SALES = 10_000
NEW_CUSTOMERS_PER_DAY = 20
#: The morning of day 1 (loads happen at 02:00 UTC).
DAY_ONE = datetime(2026, 4, 1, 2, 0, 0)
_FIRST_SALE = datetime(2026, 1, 1)
_FIRST_SEEN = datetime(2025, 12, 1)
_FIRST_DAY_SPAN_S = 78 * 86_400  # sold up to 19 March: the late ones are loaded by 31 March
CITIES = ("Berlin", "Paris", "Madrid", "Rome", "Vienna", "Lisbon", "Warsaw", "Prague")
SEGMENTS = ("retail", "business", "vip")
CATEGORIES = ("books", "games", "garden", "kitchen", "music", "sports", "toys")

#: The issues of day 1, per table: what the quality pipeline must find.
INJECTED = {
    "sales_without_customer": 50,
    "orphan_sales": 40,
    "negative_amounts": 30,
    "late_sales": 200,
    "duplicate_sales": 100,
    "customers_without_email": 10,
    "customers_with_unknown_segment": 4,
    "duplicate_customers": 5,
    "products_without_category": 5,
    "products_with_negative_price": 2,
}


def _h(seed: int, salt: str, *cols: Column) -> Column:
    """A non-negative pseudo-random long of the columns, fixed by the seed and the salt."""
    return F.abs(F.xxhash64(F.lit(seed), F.lit(salt), *cols))


def _pick(options: tuple[str, ...], hashed: Column) -> Column:
    return F.element_at(
        F.array(*[F.lit(o) for o in options]), (hashed % len(options) + 1).cast("int")
    )


def _epoch(moment: datetime) -> Column:
    return F.lit(int(moment.replace(tzinfo=UTC).timestamp()))


def customers(spark: SparkSession, seed: int, day: int) -> DataFrame:
    """The customers table as of ``day``: changed customers carry the day's ``updated_at``."""
    total = CUSTOMERS + NEW_CUSTOMERS_PER_DAY * (day - 1)
    cid = F.col("customer_id")
    # the last day on which the customer changed (days 2..day, a tenth of them each day)
    changed_on = F.lit(0)
    for d in range(2, day + 1):
        changed_on = F.when((cid % 10) == (d + 1) % 10, F.lit(d)).otherwise(changed_on)
    created_on = F.when(cid <= CUSTOMERS, F.lit(0)).otherwise(
        ((cid - CUSTOMERS - 1) / NEW_CUSTOMERS_PER_DAY).cast("int") + 2
    )
    version_day = F.greatest(created_on, changed_on)
    updated_s = F.when(version_day == 0, _epoch(_FIRST_SEEN) + (cid % 30) * 86_400).otherwise(
        _epoch(DAY_ONE) + (version_day - 1) * 86_400 - 3_600 + (cid % 3_000)
    )
    table = spark.range(1, total + 1, numPartitions=2).select(
        F.col("id").alias("customer_id"),
        F.concat(F.lit("Customer "), F.col("id").cast("string")).alias("name"),
        F.when((F.col("id") % 100) == 7, F.lit(None).cast("string"))
        .otherwise(F.concat(F.lit("customer"), F.col("id").cast("string"), F.lit("@shop.example")))
        .alias("email"),
    )
    table = table.select(
        "customer_id",
        "name",
        "email",
        _pick(CITIES, _h(seed, "city", cid) + version_day).alias("city"),
        F.when((cid % 250) == 13, F.lit("n/a"))
        .otherwise(_pick(SEGMENTS, _h(seed, "segment", cid)))
        .alias("segment"),
        F.timestamp_seconds(updated_s).alias("updated_at"),
    )
    return table.unionByName(table.filter(cid <= 5))  # exported twice


def products(spark: SparkSession, seed: int) -> DataFrame:
    """The products table (the same every day)."""
    pid = F.col("id")
    return spark.range(1, PRODUCTS + 1, numPartitions=1).select(
        pid.alias("product_id"),
        F.concat(F.lit("Product "), pid.cast("string")).alias("product_name"),
        F.when((pid % 100) == 50, F.lit(None).cast("string"))
        .otherwise(_pick(CATEGORIES, _h(seed, "category", pid)))
        .alias("category"),
        F.when((pid % 250) == 99, F.lit(-1))
        .otherwise((_h(seed, "price", pid) % 20_000) / 100 + 1)
        .cast("decimal(10,2)")
        .alias("unit_price"),
    )


def _sales_of(spark: SparkSession, seed: int, first_id: int, count: int, day: int) -> DataFrame:
    sid = F.col("id")
    r = sid % 10_000
    late = (r >= 31) & (r <= 50)
    late_by = 3 * 86_400 + _h(seed, "late", sid) % (7 * 86_400)
    arrival = _h(seed, "delay", sid) % 3_600
    if day == 1:
        sold = _epoch(_FIRST_SALE) + _h(seed, "sold", sid) % _FIRST_DAY_SPAN_S
        loaded = sold + F.when(late, late_by).otherwise(arrival)
    else:  # a later day's rows arrive between two morning loads; a late one was sold weeks ago
        base = _epoch(DAY_ONE + timedelta(days=day - 2)) + _h(seed, "sold", sid) % (86_400 - 3_600)
        loaded = base + arrival
        sold = F.when(late, _epoch(_FIRST_SALE) + _h(seed, "late", sid) % _FIRST_DAY_SPAN_S)
        sold = sold.otherwise(base)
    customer = (
        F.when((r >= 1) & (r <= 5), F.lit(None).cast("long"))
        .when((r >= 11) & (r <= 14), 90_000 + r)
        .otherwise(1 + _h(seed, "customer", sid) % CUSTOMERS)
    )
    amount = ((_h(seed, "amount", sid) % 50_000) / 100 + 1).cast("decimal(10,2)")
    rows = spark.range(first_id, first_id + count, numPartitions=2).select(
        sid.alias("sale_id"),
        customer.alias("customer_id"),
        (1 + _h(seed, "product", sid) % PRODUCTS).alias("product_id"),
        (1 + _h(seed, "quantity", sid) % 5).cast("int").alias("quantity"),
        F.when((r >= 21) & (r <= 23), -amount).otherwise(amount).alias("amount"),
        F.timestamp_seconds(sold).alias("sold_at"),
        F.timestamp_seconds(loaded).alias("loaded_at"),
    )
    sale_r = F.col("sale_id") % 10_000
    resent = rows.filter((sale_r >= 61) & (sale_r <= 70)).withColumn(
        "loaded_at", F.col("loaded_at") + F.expr("INTERVAL 1 MINUTE")
    )
    return rows.unionByName(resent)


def sales(spark: SparkSession, seed: int, day: int) -> DataFrame:
    """The sales table as of ``day``: the first day's 100,000, then 10,000 a day."""
    table = _sales_of(spark, seed, 1, FIRST_DAY_SALES, 1)
    for d in range(2, day + 1):
        first = FIRST_DAY_SALES + DAILY_SALES * (d - 2) + 1
        table = table.unionByName(_sales_of(spark, seed, first, DAILY_SALES, d))
    return table


def generate_shop(params: dict[str, Any]) -> tuple[DataFrame, DataFrame, DataFrame]:
    """The shop's customers, products and sales as of ``params['day']`` (1 or later)."""
    spark = SparkSession.getActiveSession()
    if spark is None:  # pragma: no cover - Kedro's session starts Spark first
        raise RuntimeError("warehouse_seed needs the project's SparkSession (kedro run).")
    seed, day = int(params["seed"]), int(params["day"])
    if day < 1:
        raise ValueError(f"warehouse_seed.day is {day}: the days start at 1.")
    return customers(spark, seed, day), products(spark, seed), sales(spark, seed, day)
