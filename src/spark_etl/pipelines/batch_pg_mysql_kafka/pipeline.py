"""Wiring of ``batch_pg_mysql_kafka``."""

from __future__ import annotations

from kedro.pipeline import Pipeline, node, pipeline

from spark_etl.pipelines.steps import run_steps


def create_pipeline(**kwargs: object) -> Pipeline:
    """Join ``user_summary`` (PostgreSQL) with ``users_ref`` (MySQL) into keyed Kafka records."""
    return pipeline(
        [
            node(
                run_steps,
                {
                    "df": "user_summary",
                    "steps": "params:batch_pg_mysql_kafka.profile",
                    "right": "users_ref",
                },
                "user_profiles",
                name="build_user_profiles",
            ),
        ]
    )
