"""The circuit breaker through ``kedro run`` with the real PostgreSQL stopped: the writes that
find it down open the circuit, the attempts after fail fast without reaching it, and the run
ends naming the paused server; started again, the next run writes. (A stream that pauses and
probes while the server is down: tests/pipelines/test_streaming.py.)"""

from __future__ import annotations

import re
from typing import Any

import pytest
from kedro_run import Env, json_events, local_stack, run_end
from spark_etl_example.sample_data import connect_postgres

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_writes_to_a_stopped_server_open_its_circuit_then_fail_fast(
    conf_env: Env, services: dict[str, str], mysql: Any
) -> None:
    source, sink = f"cb_src_{conf_env.name}", f"cb_out_{conf_env.name}"
    with mysql.cursor() as cur:
        cur.execute(f"CREATE TABLE {source} (order_id VARCHAR(10) PRIMARY KEY, amount INTEGER)")
        cur.executemany(f"INSERT INTO {source} VALUES (%s, %s)", [(f"o-{i}", i) for i in range(5)])
    conf_env.write(
        "catalog.yml",
        {
            "orders": {
                "type": "spark_etl.datasets.JDBCDataset",
                "url": services["SPARK_ETL_MYSQL_URL"],
                "table": source,
                "credentials": "mysql",
            },
            "orders_pg": {
                "type": "spark_etl.datasets.JDBCDataset",
                "url": services["SPARK_ETL_PG_URL"],
                "table": sink,
                "credentials": "postgres",
                "write_mode": "overwrite",
            },
        },
    )
    conf_env.write(
        "pipelines/orders_to_pg.yml",
        {
            "id": "orders_to_pg",
            "sources": ["orders"],
            "steps": [{"transform": "select", "params": {"columns": ["order_id", "amount"]}}],
            "sink": {"dataset": "orders_pg"},
        },
    )
    conf_env.write(
        "runtime.yml",
        {
            "retry": {"default": {"retries": 3, "delay": 0.2}},
            "circuit_breaker": {"failures": 2, "window": "10m", "cooldown": "1h"},
            "preflight": False,  # the write itself must meet the stopped server
        },
    )
    server = "postgresql://" + services["SPARK_ETL_PG_URL"].split("//", 1)[1].split("/", 1)[0]
    local_stack("down", "postgres")
    try:
        done = conf_env.run("orders_to_pg")
    finally:
        local_stack("up", "postgres")

    assert done.returncode == 4, done.stderr + done.stdout[-3000:]
    first = done.stderr.strip().splitlines()[0]
    assert first.startswith(
        f"Error: Writes to {server} are paused by the circuit breaker: 2 writes in a row failed "
        f"within 10 min (circuit_breaker in runtime.yml), so the write to {sink} was not tried. "
        "The next write probes the server in "
    ), first
    assert re.search(r"probes the server in (1 h|59 min( \d+ s)?)\. ", first), first
    assert "The last failure: postgresql at 127.0.0.1" in first and "is not reachable" in first
    events = json_events(done.stdout)
    retried = [e["error"] for e in events if e["event"] == "retry"]
    assert len(retried) == 3
    assert all("is not reachable" in e for e in retried[:2])  # attempts 1 and 2 met the server
    assert "paused by the circuit breaker" in retried[2]  # attempt 3 did not try
    (opened,) = [e for e in events if e["event"] == "circuit_breaker"]
    assert (opened["state"], opened["system"], opened["failures"]) == ("open", server, 2)
    (final,) = [e for e in events if e["event"] == "attempt_failed"]
    assert final["attempt"] == 4 and "paused by the circuit breaker" in final["error"]

    # the server is back; a new run (a new process: a closed circuit) writes
    end = run_end(conf_env.run("orders_to_pg"))
    assert end["status"] == "success"
    with connect_postgres(services) as pg:  # a connection of before the stop is gone
        rows = pg.execute(f"SELECT order_id, amount FROM {sink} ORDER BY order_id").fetchall()
    assert rows == [(f"o-{i}", i) for i in range(5)]
