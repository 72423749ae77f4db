"""Wiring of ``warehouse_quality``: shop tables in, checked staging tables out."""

from __future__ import annotations

from kedro.pipeline import Pipeline, node, pipeline

from .nodes import stage_customers, stage_products, stage_sales


def create_pipeline(**kwargs: object) -> Pipeline:
    """Check the shop's tables; stage what the warehouse may take."""
    return pipeline(
        [
            node(stage_customers, "shop_customers", "stg_customers", name="stage_customers"),
            node(stage_products, "shop_products", "stg_products", name="stage_products"),
            node(stage_sales, ["shop_sales", "stg_customers"], "stg_sales", name="stage_sales"),
        ]
    )
