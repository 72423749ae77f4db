"""Wiring of ``warehouse_lake``: the new facts upserted into a Delta table on S3."""

from __future__ import annotations

from kedro.pipeline import Pipeline, node, pipeline

from .nodes import lake_facts


def create_pipeline(**kwargs: object) -> Pipeline:
    """fact_sales (PostgreSQL, the rows loaded since the last run) -> fact_sales_lake (Delta)."""
    return pipeline([node(lake_facts, "fact_sales", "fact_sales_lake", name="upsert_lake_facts")])
