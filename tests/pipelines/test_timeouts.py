"""Timeouts through ``kedro run``: a node past its time in ``runtime.yml`` has its Spark job
cancelled mid-write, is retried as configured, and the run fails with a message naming the node,
the limit and its key; the PostgreSQL table it was overwriting keeps its rows."""

from __future__ import annotations

import time
from typing import Any

import pytest
from kedro_run import Env, json_events

pytestmark = pytest.mark.integration


def test_a_node_past_its_time_is_cancelled_retried_and_named(
    conf_env: Env, services: dict[str, str], pg: Any
) -> None:
    source, sink = f"slow_src_{conf_env.name}", f"slow_out_{conf_env.name}"
    pg.execute(f"CREATE TABLE {source} (order_id VARCHAR(10) PRIMARY KEY, amount INTEGER)")
    pg.execute(f"INSERT INTO {source} SELECT 'n-' || i, i FROM generate_series(1, 4) AS i")
    pg.execute(f"CREATE TABLE {sink} (order_id VARCHAR(10) PRIMARY KEY, amount INTEGER)")
    pg.execute(f"INSERT INTO {sink} VALUES ('old-1', 1), ('old-2', 2), ('old-3', 3)")
    url = services["SPARK_ETL_PG_URL"]
    conf_env.write(
        "catalog.yml",
        {
            "orders": {
                "type": "spark_etl.datasets.JDBCDataset",
                "url": url,
                "table": source,
                "credentials": "postgres",
            },
            "orders_copy": {
                "type": "spark_etl.datasets.JDBCDataset",
                "url": url,
                "table": sink,
                "credentials": "postgres",
                "write_mode": "overwrite",
            },
        },
    )
    # each row's task sleeps a minute in the JVM while the sink writes: only cancelling ends it
    slow = "reflect('java.lang.Thread', 'sleep', cast(60000 as bigint)) IS NULL"
    conf_env.write(
        "pipelines/copy_slowly.yml",
        {
            "id": "copy_slowly",
            "sources": ["orders"],
            "steps": [{"transform": "filter", "params": {"condition": slow}}],
            "sink": {"dataset": "orders_copy"},
        },
    )
    conf_env.write(
        "runtime.yml",
        {
            "retry": {"default": {"retries": 1, "delay": 0}},
            "timeouts": {"pipelines": {"copy_slowly": {"nodes": {"copy_slowly.0_filter": "4s"}}}},
        },
    )
    started = time.monotonic()
    done = conf_env.run("copy_slowly")
    took = time.monotonic() - started

    assert done.returncode == 5, done.stderr + done.stdout[-3000:]  # a timeout's exit code
    said = done.stderr.strip().splitlines()
    assert said[0] == (
        "Error: Node 'copy_slowly.0_filter' of pipeline 'copy_slowly' ran past its timeout of 4 s "
        "(timeouts.pipelines.copy_slowly.nodes.copy_slowly.0_filter in conf/<env>/runtime.yml): "
        "its Spark jobs were cancelled (on_timeout: transient: retried as the retry policy says)."
    )
    assert said[2].startswith("What to do: A write the cancelled jobs had started was not commit")
    assert said[3].startswith("(exit code 5: timeout error; the full report is in logs/")
    assert "Traceback" not in done.stderr
    events = json_events(done.stdout)
    timeouts = [e for e in events if e["event"] == "timeout"]
    assert [(e["node"], e["limit_s"]) for e in timeouts] == [("copy_slowly.0_filter", 4.0)] * 2
    (retried,) = [e for e in events if e["event"] == "retry"]
    assert (retried["attempt"], retried["error_kind"]) == (1, "transient")
    (final,) = [e for e in events if e["event"] == "attempt_failed"]
    assert (final["attempt"], final["attempts"], final["final"]) == (2, 2, True)
    assert took < 100  # two attempts of a minute's sleep each would take more than two minutes
    # the overwrite was cancelled before it committed: the table is as it was
    rows = pg.execute(f"SELECT order_id, amount FROM {sink} ORDER BY order_id").fetchall()
    assert rows == [("old-1", 1), ("old-2", 2), ("old-3", 3)]
