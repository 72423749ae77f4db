"""Incremental JDBC sources through ``kedro run``: a cursor column's high-water mark, committed
after the sink is written; new and updated rows read exactly once, nothing after a SIGKILL,
and the lag window read again."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from kedro_run import Env, kill_while_writing, run_end

pytestmark = pytest.mark.integration

START = datetime(2026, 1, 1)


def insert(pg: Any, table: str, first: int, count: int) -> None:
    for i in range(first, first + count):
        pg.execute(
            f"INSERT INTO {table} VALUES (%s, %s, %s)",
            (f"o-{i:04d}", float(i), START + timedelta(minutes=i)),
        )


def test_a_cursor_reads_new_and_updated_rows_once(
    conf_env: Env, services: dict[str, str], pg: Any
) -> None:
    source, sink = f"incr_src_{conf_env.name}", f"incr_out_{conf_env.name}"
    pg.execute(
        f"CREATE TABLE {source} (order_id VARCHAR(10) PRIMARY KEY, amount DOUBLE PRECISION, "
        "updated_at TIMESTAMP)"
    )
    url = services["SPARK_ETL_PG_URL"]
    catalog = {
        "orders": {
            "type": "spark_etl.datasets.JDBCDataset",
            "url": url,
            "table": source,
            "credentials": "postgres",
            "incremental": {"cursor": "updated_at"},
        },
        "orders_copy": {
            "type": "spark_etl.datasets.JDBCDataset",
            "url": url,
            "table": sink,
            "credentials": "postgres",
            "write_mode": "upsert",
            "key_columns": ["order_id"],
        },
    }
    conf_env.write("catalog.yml", catalog)
    conf_env.write(
        "pipelines/copy_orders.yml",
        {
            "id": "copy_orders",
            "sources": ["orders"],
            "steps": [
                {"transform": "select", "params": {"columns": ["order_id", "amount", "updated_at"]}}
            ],
            "sink": {"dataset": "orders_copy"},
        },
    )
    state_table = f"state_{conf_env.name}"
    conf_env.write(
        "runtime.yml",
        {"state": {"url": url, "credentials": "postgres", "table": state_table}},
    )

    def reads() -> int:
        end = run_end(conf_env.run("copy_orders"))
        assert "orders" in end["reads"], end
        return int(end["reads"]["orders"]["records"])

    def copied() -> dict[str, float]:
        return dict(pg.execute(f"SELECT order_id, amount FROM {sink}").fetchall())

    try:
        insert(pg, source, 0, 40)
        assert reads() == 40
        assert reads() == 0  # nothing new
        mark = pg.execute(f"SELECT position FROM {state_table}").fetchone()[0]
        assert mark == '{"column": "updated_at", "value": "2026-01-01 00:39:00"}'

        insert(pg, source, 40, 10)
        pg.execute(
            f"UPDATE {source} SET amount = -1, updated_at = %s WHERE order_id IN "
            "('o-0003', 'o-0007')",
            (START + timedelta(minutes=49, seconds=30),),
        )
        assert reads() == 12  # 10 new rows and 2 updated ones
        got = copied()
        assert len(got) == 50 and got["o-0003"] == got["o-0007"] == -1
        assert got["o-0045"] == 45.0

        insert(pg, source, 50, 5)  # a run killed while it writes commits nothing
        kill_while_writing(conf_env, "copy_orders", "orders_copy")
        assert reads() == 5
        assert len(copied()) == 55

        # a lag reads the rows within it again (for rows committed late); the upsert sink is
        # unchanged by them
        catalog["orders"]["incremental"] = {"cursor": "updated_at", "lag": "30 minutes"}
        conf_env.write("catalog.yml", catalog)
        (within,) = pg.execute(
            f"SELECT count(*) FROM {source} WHERE updated_at > "
            f"(SELECT max(updated_at) FROM {source}) - interval '30 minutes'"
        ).fetchone()
        assert within == 32  # rows 25..54 and the two updated ones
        assert reads() == within
        assert len(copied()) == 55
    finally:
        pg.execute(f"DROP TABLE IF EXISTS {source}")
        pg.execute(f"DROP TABLE IF EXISTS {sink}")
        pg.execute(f"DROP TABLE IF EXISTS {state_table}")
