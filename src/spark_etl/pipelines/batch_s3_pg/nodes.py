"""Nodes of ``batch_s3_pg``: thin wrappers that name the steps; the work is in transforms."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F


def parse_user_events(raw: DataFrame) -> DataFrame:
    """Extract: the raw CSV columns typed as the ``user_event`` contract wants them.

    ``properties`` arrives as a JSON object in a text column and becomes a map.
    """
    return raw.withColumn("properties", F.from_json("properties", "map<string,string>"))


def summarise_users(events: DataFrame) -> DataFrame:
    """Transform: one ``user_summary`` row per user."""
    per_type = events.groupBy("user_id", "event_type").agg(F.count(F.lit(1)).alias("n"))
    counts = per_type.groupBy("user_id").agg(
        F.map_from_entries(F.array_sort(F.collect_list(F.struct("event_type", "n")))).alias(
            "event_type_counts"
        )
    )
    totals = events.groupBy("user_id").agg(
        F.count(F.lit(1)).alias("total_events"),
        F.round(F.coalesce(F.sum("amount"), F.lit(0.0)), 2).alias("total_amount"),
        F.max("timestamp").alias("last_event_time"),
    )
    return (
        totals.join(counts, "user_id")
        .withColumn("updated_at", F.current_timestamp())
        .select(
            "user_id",
            "total_events",
            "total_amount",
            "last_event_time",
            "event_type_counts",
            "updated_at",
        )
    )
