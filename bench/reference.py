"""The reference-data benchmark's pipeline: the stream joined with a PostgreSQL table.

``streaming_<rate>_reference`` measures what a source's ``cache`` saves a stream-static join: the
event stream joined with 100,000 users' segments in PostgreSQL (every user the producer writes),
counted per segment in the streaming benchmark's windows and upserted into PostgreSQL. The same
pipeline runs twice under the same producer: its reference dataset cached (read once, broadcast
to the join) and not (read by every micro-batch, as a plain catalog entry is).

The pipeline is declared in a Kedro environment of the example project that the benchmark writes
for the run and removes afterwards (``conf/bench_reference_<id>/``), so the example itself keeps
no benchmark entries.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import yaml
from spark_etl_example.sample_data import connect_postgres

from bench.streaming import EXAMPLE, StreamPipeline

#: The producer's users are ``user-000000`` .. ``user-099999``: each has a segment.
USERS = 100_000
SEGMENTS = 8
REFERENCE_TABLE = "bench_user_segments"
SINK_TABLE = "bench_segment_counts"
PIPELINE = "bench_segment_counts"
QUERY = "bench_segment_counts"
#: How the cached run's reference dataset is cached (the refresh does not fall in a run).
CACHE = {"refresh": "10m", "broadcast": True}


def seed_reference(env: dict[str, str]) -> None:
    """``bench_user_segments``: every producer user and its segment (``segment-<n % 8>``)."""
    with connect_postgres(env) as conn, conn.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {REFERENCE_TABLE}")
        cur.execute(
            f"CREATE TABLE {REFERENCE_TABLE} (user_id text PRIMARY KEY, segment text NOT NULL)"
        )
        with cur.copy(f"COPY {REFERENCE_TABLE} (user_id, segment) FROM STDIN") as copy:
            for n in range(USERS):
                copy.write_row((f"user-{n:06d}", f"segment-{n % SEGMENTS}"))
        cur.execute(f"ANALYZE {REFERENCE_TABLE}")


def _catalog(env: dict[str, str], cached: bool) -> dict[str, Any]:
    reference: dict[str, Any] = {
        "type": "spark_etl.datasets.JDBCDataset",
        "url": env["SPARK_ETL_PG_URL"],
        "table": REFERENCE_TABLE,
        "credentials": "postgres",
    }
    return {
        "bench_user_segments": {**reference, **({"cache": CACHE} if cached else {})},
        "bench_segment_counts": {
            "type": "spark_etl.datasets.JDBCDataset",
            "url": env["SPARK_ETL_PG_URL"],
            "table": SINK_TABLE,
            "credentials": "postgres",
            "write_mode": "upsert",
            "key_columns": ["window_start", "window_end", "segment"],
            "streaming": {
                # run_stream sets both for the run, as for streaming_kafka_pg
                "checkpoint_location": "${oc.env:SPARK_ETL_CHECKPOINTS}/bench_segment_counts",
                "trigger": "${oc.env:SPARK_ETL_STREAM_TRIGGER}",
                "output_mode": "update",
                "query_name": QUERY,
            },
        },
    }


#: The declared pipeline: streaming_kafka_pg's windows, per segment of the joined users.
DECLARATION = {
    "id": PIPELINE,
    "description": "Events joined with their users' segments, counted per segment in windows.",
    "sources": ["event_stream_live", "bench_user_segments"],
    "steps": [
        {
            "transform": "join",
            "params": {"on": ["user_id"], "how": "inner"},
            "inputs": {"right": "bench_user_segments"},
        },
        {
            "transform": "time_window",
            "params": {
                "time_column": "timestamp",
                "window_duration": "10 minutes",
                "slide_duration": "5 minutes",
                "watermark": "10 minutes",
                "group_by": ["segment"],
                "aggregations": [{"function": "count", "alias": "events"}],
            },
        },
    ],
    "sink": {"dataset": "bench_segment_counts", "write_mode": "upsert"},
}


@contextmanager
def reference_pipeline(env: dict[str, str], *, cached: bool) -> Iterator[StreamPipeline]:
    """The pipeline in an environment of the example of its own, removed afterwards."""
    name = f"bench_reference_{uuid.uuid4().hex[:8]}"
    folder = EXAMPLE / "conf" / name
    (folder / "pipelines").mkdir(parents=True)
    try:
        (folder / "catalog.yml").write_text(yaml.safe_dump(_catalog(env, cached)))
        (folder / "pipelines" / f"{PIPELINE}.yml").write_text(yaml.safe_dump(DECLARATION))
        yield StreamPipeline(name=PIPELINE, query=QUERY, table=SINK_TABLE, kedro_env=name)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
