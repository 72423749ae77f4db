"""Wiring of ``warehouse_star``: the dimensions, then the facts that look their keys up."""

from __future__ import annotations

from kedro.pipeline import Pipeline, node, pipeline

from .nodes import calendar, customer_versions, product_rows, sales_facts


def create_pipeline(**kwargs: object) -> Pipeline:
    """dim_customer (SCD2), dim_product (upsert), dim_date (generated), fact_sales (incremental)."""
    return pipeline(
        [
            node(customer_versions, "stg_customers", "dim_customer", name="load_dim_customer"),
            node(product_rows, "stg_products", "dim_product", name="load_dim_product"),
            node(calendar, "params:warehouse_star.calendar", "dim_date", name="load_dim_date"),
            node(
                sales_facts,
                ["stg_sales", "dim_customer", "dim_product"],
                "fact_sales",
                name="load_fact_sales",
            ),
        ]
    )
