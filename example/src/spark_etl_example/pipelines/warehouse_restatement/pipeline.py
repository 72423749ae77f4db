"""Wiring of ``warehouse_restatement``: the lake's facts now against its first version."""

from __future__ import annotations

from kedro.pipeline import Pipeline, node, pipeline

from ..warehouse_lake.nodes import restated_revenue


def create_pipeline(**kwargs: object) -> Pipeline:
    """fact_sales_lake (latest) and fact_sales_lake_first (version 0) -> revenue_restatement."""
    return pipeline(
        [
            node(
                restated_revenue,
                ["fact_sales_lake", "fact_sales_lake_first"],
                "revenue_restatement",
                name="restate_revenue",
            )
        ]
    )
