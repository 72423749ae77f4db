"""Wiring of ``streaming_kafka_pg`` (Structured Streaming; stops on SIGINT/SIGTERM)."""

from __future__ import annotations

from kedro.pipeline import Pipeline, node, pipeline

from spark_etl.pipelines.steps import run_steps


def create_pipeline(**kwargs: object) -> Pipeline:
    """Count events per type in sliding windows with a watermark; upsert each update."""
    return pipeline(
        [
            node(
                run_steps,
                ["event_stream_live", "params:streaming_kafka_pg.count"],
                "event_counts_pg",
                name="count_events_live",
            ),
        ]
    )
