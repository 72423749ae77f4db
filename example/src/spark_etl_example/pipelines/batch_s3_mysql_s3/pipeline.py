"""Wiring of ``batch_s3_mysql_s3``: extract, enrich, load (datasets are catalog names)."""

from __future__ import annotations

from kedro.pipeline import Pipeline, node, pipeline

from .nodes import enrich_transactions, parse_transactions


def create_pipeline(**kwargs: object) -> Pipeline:
    """Extract transactions (contract ``transaction``), enrich them with users, load to S3."""
    return pipeline(
        [
            node(
                parse_transactions,
                ["raw_transactions", "params:batch_s3_mysql_s3.extract"],
                "transactions",
                name="extract_transactions",
            ),
            node(
                enrich_transactions,
                ["transactions", "users_ref", "params:batch_s3_mysql_s3.enrich"],
                "enriched_transactions",
                name="enrich_transactions",
            ),
        ]
    )
