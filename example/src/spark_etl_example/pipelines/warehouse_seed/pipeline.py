"""Wiring of ``warehouse_seed``: the shop's source tables, as of ``warehouse_seed.day``."""

from __future__ import annotations

from kedro.pipeline import Pipeline, node, pipeline

from .nodes import generate_shop


def create_pipeline(**kwargs: object) -> Pipeline:
    """Generate the shop's customers, products and sales (PostgreSQL, replaced each time)."""
    return pipeline(
        [
            node(
                generate_shop,
                "params:warehouse_seed",
                ["shop_customers", "shop_products", "shop_sales"],
                name="generate_shop",
            )
        ]
    )
