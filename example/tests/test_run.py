"""``kedro run`` of the project end to end, against the local S3 server and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from pyspark.sql import SparkSession
from spark_etl.runtime.runner import RetryingRunner

from spark_etl_example.sample_data import (
    expected_daily_event_counts,
    expected_user_summary,
    put_user_events,
    user_events,
)

pytestmark = pytest.mark.integration

PROJECT = Path(__file__).resolve().parents[1]
RAW_BUCKET = "spark-etl-example-raw"


def kedro_run(pipelines: list[str] | None = None) -> None:
    """``kedro run`` in-process, with spark-etl's retrying runner (as the command line has it)."""
    bootstrap_project(PROJECT)
    with KedroSession.create(project_path=PROJECT) as session:
        session.run(pipeline_names=pipelines, runner=RetryingRunner())


def summary_rows(pg: Any) -> dict[str, tuple[Any, ...]]:
    cur = pg.execute(
        "SELECT user_id, total_events, total_amount, last_event_time, event_type_counts, "
        "updated_at FROM user_summary"
    )
    return {row[0]: row[1:] for row in cur.fetchall()}


def test_default_run_writes_the_oracle_s_rows_and_a_rerun_changes_nothing(
    spark: SparkSession, stack: dict[str, str], pg: Any
) -> None:
    events = list(user_events(3_000, users=40, seed=7))
    put_user_events(stack, RAW_BUCKET, events)
    pg.execute("DROP TABLE IF EXISTS user_summary")
    pg.execute("DROP TABLE IF EXISTS daily_event_counts")

    kedro_run()  # batch_s3_pg, then batch_event_counts (it reads batch_s3_pg's user_events)

    first = summary_rows(pg)
    expected = expected_user_summary(events)
    assert len(first) == len(expected) == 40
    for user_id, want in expected.items():
        total_events, total_amount, last_event_time, counts, _ = first[user_id]
        assert total_events == want.total_events
        assert round(total_amount, 2) == want.total_amount
        assert last_event_time == want.last_event_time.replace(tzinfo=None)
        assert (json.loads(counts) if isinstance(counts, str) else counts) == want.event_type_counts
    daily = {
        (day, event_type): events_count
        for day, event_type, events_count in pg.execute(
            "SELECT window_start, event_type, events FROM daily_event_counts"
        ).fetchall()
    }
    assert daily == {
        (day.replace(tzinfo=None), event_type): count
        for (day, event_type), count in expected_daily_event_counts(events).items()
    }

    kedro_run(["batch_s3_pg"])
    assert summary_rows(pg) == first  # the same rows, updated_at included: an upsert no-op
