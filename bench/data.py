"""Deterministic benchmark data generated inside Spark (seeded, any size, no Python per row)."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

EVENT_TYPES = ["page_view", "click", "add_to_cart", "purchase", "signup"]


def _rand(seed: int, salt: str) -> Column:
    """A value in [0, 1) that depends only on the row id, the seed and ``salt``."""
    return (F.abs(F.xxhash64(F.col("id"), F.lit(seed), F.lit(salt))) % 1_000_000) / 1_000_000


def user_event_columns(seed: int = 42, users: int = 100_000) -> list[Column]:
    """The columns of a ``user_event`` derived from a long column ``id`` (any source of ids:
    ``spark.range`` for batch data, the ``rate`` source for a stream)."""
    types = F.array(*[F.lit(t) for t in EVENT_TYPES])
    kind = types[(_rand(seed, "type") * len(EVENT_TYPES)).cast("int")]
    return [
        F.format_string("evt-%d-%09d", F.lit(seed), F.col("id")).alias("event_id"),
        F.format_string("user-%06d", (_rand(seed, "user") * users).cast("int")).alias("user_id"),
        kind.alias("event_type"),
        F.timestamp_seconds(
            F.lit(1767225600) + (_rand(seed, "ts") * 31 * 86400).cast("long")
        ).alias("timestamp"),
        F.create_map(
            F.lit("device"), F.when(_rand(seed, "dev") < 0.5, "web").otherwise("ios")
        ).alias("properties"),
        F.when(kind == "purchase", F.round(_rand(seed, "amt") * 500, 2)).alias("amount"),
    ]


def user_events(spark: SparkSession, rows: int, users: int = 100_000, seed: int = 42) -> DataFrame:
    """``rows`` user events of the ``user_event`` contract (timestamps over January 2026)."""
    return spark.range(rows).select(*user_event_columns(seed, users))


def users(spark: SparkSession, rows: int, seed: int = 7) -> DataFrame:
    """``rows`` reference users."""
    countries = F.array(*[F.lit(c) for c in ("DE", "FR", "NL", "US", "JP")])
    return spark.range(rows).select(
        F.format_string("user-%06d", F.col("id")).alias("user_id"),
        F.format_string("User %d", F.col("id")).alias("name"),
        countries[(_rand(seed, "c") * 5).cast("int")].alias("country"),
        F.when(_rand(seed, "s") < 0.5, "consumer").otherwise("business").alias("segment"),
    )
