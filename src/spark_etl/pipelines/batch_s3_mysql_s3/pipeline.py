"""Wiring of ``batch_s3_mysql_s3``."""

from __future__ import annotations

from kedro.pipeline import Pipeline, node, pipeline

from spark_etl.pipelines.steps import run_steps


def create_pipeline(**kwargs: object) -> Pipeline:
    """Extract transactions (contract ``transaction``), enrich them with users, load to S3."""
    return pipeline(
        [
            node(
                run_steps,
                ["raw_transactions", "params:batch_s3_mysql_s3.extract"],
                "transactions",
                name="extract_transactions",
            ),
            node(
                run_steps,
                {
                    "df": "transactions",
                    "steps": "params:batch_s3_mysql_s3.enrich",
                    "right": "users_ref",
                },
                "enriched_transactions",
                name="enrich_transactions",
            ),
        ]
    )
