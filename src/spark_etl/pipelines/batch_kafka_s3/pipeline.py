"""Wiring of ``batch_kafka_s3``."""

from __future__ import annotations

from kedro.pipeline import Pipeline, node, pipeline

from spark_etl.pipelines.steps import run_steps


def create_pipeline(**kwargs: object) -> Pipeline:
    """Count events per type and event-time window, append the counts to S3."""
    return pipeline(
        [
            node(
                run_steps,
                ["event_stream", "params:batch_kafka_s3.count"],
                "event_counts",
                name="count_events_per_window",
            ),
        ]
    )
