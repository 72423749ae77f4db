"""Wiring of ``batch_s3_pg``: extract, transform, load (datasets are catalog names, not classes)."""

from __future__ import annotations

from kedro.pipeline import Pipeline, node, pipeline

from .nodes import parse_user_events, summarise_users


def create_pipeline(**kwargs: object) -> Pipeline:
    """Extract raw events, summarise them per user, load the summary (upsert)."""
    return pipeline(
        [
            node(
                parse_user_events,
                ["raw_user_events", "params:batch_s3_pg.extract"],
                "user_events",
                name="extract_user_events",
            ),
            node(
                summarise_users,
                ["user_events", "params:batch_s3_pg.summary"],
                "user_summary",
                name="summarise_users",
            ),
        ]
    )
