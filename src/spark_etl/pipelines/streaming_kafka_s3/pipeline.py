"""Wiring of ``streaming_kafka_s3`` (Structured Streaming; stops on SIGINT/SIGTERM)."""

from __future__ import annotations

from kedro.pipeline import Pipeline, node, pipeline

from spark_etl.pipelines.steps import run_steps


def create_pipeline(**kwargs: object) -> Pipeline:
    """Drop invalid and duplicate events, archive the rest to S3 as Avro."""
    return pipeline(
        [
            node(
                run_steps,
                ["event_stream_archive", "params:streaming_kafka_s3.clean"],
                "events_archive",
                name="clean_events_live",
            ),
        ]
    )
