"""The warehouse gallery (docs/gallery.md) as a user runs it, with ``kedro run``: the shop's
generated tables with their injected issues, the quality pipeline that finds each one (stored in
``quality_check_result``, alerted through the notification hook), the star schema in PostgreSQL
(SCD2 customers, incremental idempotent facts), the facts as a Delta table on S3 read back with
time travel, and a failing fact load that is resumed.

Every expected row count is computed a second time in SQL from the shop's own tables (the oracle),
besides the numbers the generator documents.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from kedro_run import (
    KEDRO,
    LAKE_BUCKET,
    ROOT,
    Env,
    clear_prefix,
    json_events,
    run_end,
    run_pipeline,
    s3_client,
)
from pyspark.sql import SparkSession
from receivers import Receiver, http_receiver
from spark_etl_example.pipelines.warehouse_seed.nodes import INJECTED
from spark_etl_example.sample_data import connect_postgres

from spark_etl.datasets import DeltaDataset

pytestmark = pytest.mark.integration

TABLES = (
    "shop_customers",
    "shop_products",
    "shop_sales",
    "stg_customers",
    "stg_products",
    "stg_sales",
    "dim_customer",
    "dim_product",
    "dim_date",
    "fact_sales",
    "revenue_restatement",
    "quality_check_result",
)
LAKE_PREFIX = "warehouse/fact_sales/"

#: The sales the warehouse may take, computed from the shop's tables alone.
ORACLE_FACTS = """
SELECT count(DISTINCT s.sale_id) FROM shop_sales s
WHERE s.customer_id IN (SELECT customer_id FROM shop_customers)
  AND s.amount BETWEEN 0.01 AND 10000
"""


def one(pg: psycopg.Connection[Any], sql: str, *args: Any) -> Any:
    row = pg.execute(sql, args).fetchone()
    assert row is not None
    return row[0] if len(row) == 1 else row


def seed(env: Env, day: int) -> None:
    """The shop's tables as of the morning of ``day``."""
    run_end(env.run("warehouse_seed", "--params", f"warehouse_seed.day={day}"))


def run_command(line: str) -> subprocess.CompletedProcess[str]:
    """A ``kedro ...`` command line as the user copies it from the output, in the project."""
    words = shlex.split(line)
    assert words[0] == "kedro"
    return subprocess.run(
        [KEDRO, *words[1:]],
        cwd=ROOT,
        env={**os.environ, "DO_NOT_TRACK": "1", "KEDRO_DISABLE_TELEMETRY": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def wait_for(found: list[Any], count: int) -> None:
    deadline = time.monotonic() + 20
    while len(found) < count and time.monotonic() < deadline:
        time.sleep(0.1)


@pytest.fixture(scope="module")
def gallery(services: dict[str, str]) -> Iterator[dict[str, Any]]:
    """A clean warehouse (no tables, no lake, no committed state), an environment whose
    notifications go to an HTTP receiver on 127.0.0.1."""
    with connect_postgres(services) as pg:
        for table in TABLES:
            pg.execute(f"DROP TABLE IF EXISTS {table}")
    s3 = s3_client(services)
    clear_prefix(s3, LAKE_BUCKET, LAKE_PREFIX)
    clear_prefix(s3, LAKE_BUCKET, "_spark_etl_state/warehouse/")  # the committed marks
    env = Env("test_gallery")
    env.path.mkdir(exist_ok=True)
    with http_receiver() as hook:
        env.write(
            "notifications.yml",
            {
                "channels": {"chat": {"url": f"json://127.0.0.1:{hook.port}/alerts"}},
                "routes": [
                    {
                        "events": ["run_failed", "quality_failed", "quality_warned"],
                        "channels": ["chat"],
                    },
                    {"events": ["dead_letters"], "channels": ["chat"], "threshold": 100},
                ],
                "delay_s": 0.1,
            },
        )
        try:
            yield {"env": env, "hook": hook}
        finally:
            shutil.rmtree(env.path, ignore_errors=True)


def results_of(pg: psycopg.Connection[Any], run_id: str) -> dict[tuple[str, str], tuple[Any, ...]]:
    rows = pg.execute(
        "SELECT dataset, rule, severity, passed, failing, node FROM quality_check_result "
        "WHERE run_id = %s",
        (run_id,),
    ).fetchall()
    return {(d, r): (s, p, f, n) for d, r, s, p, f, n in rows}


def test_day_one_finds_every_injected_issue_and_loads_the_star_schema(
    gallery: dict[str, Any], pg: psycopg.Connection[Any]
) -> None:
    env: Env = gallery["env"]
    hook: Receiver = gallery["hook"]
    seed(env, 1)
    assert one(pg, "SELECT count(*) FROM shop_sales") == 100_000 + INJECTED["duplicate_sales"]

    end = run_end(env.run("warehouse"))

    assert end["status"] == "partial"  # rows went to the dead-letter queue
    assert end["dead_letters"] == {"dead_letters": 120}
    results = results_of(pg, end["run_id"])
    failed = {k: v for k, v in results.items() if not v[1]}
    assert failed == {
        ("shop_customers", "unique(customer_id)"): ("warn", False, 5, "stage_customers"),
        ("shop_customers", "null_rate(email <= 0.005)"): ("warn", False, 10, "stage_customers"),
        ("shop_sales", "unique(sale_id)"): ("warn", False, 100, "stage_sales"),
        ("shop_sales", "null_rate(customer_id <= 0.0)"): ("warn", False, 50, "stage_sales"),
        ("stg_customers", "not_null(email)"): ("warn", False, 10, "stage_customers"),
        ("stg_customers", "allowed_values(segment)"): ("warn", False, 4, "stage_customers"),
        ("stg_products", "not_null(category)"): ("warn", False, 5, "stage_products"),
        ("stg_products", "range(unit_price, 0.0..None)"): ("warn", False, 2, "stage_products"),
        ("stg_sales", "not_null(customer_id)"): ("drop", False, 50, "stage_sales"),
        ("stg_sales", "allowed_values(customer_known)"): ("drop", False, 40, "stage_sales"),
        ("stg_sales", "range(amount, 0.01..10000.0)"): ("drop", False, 30, "stage_sales"),
        ("stg_sales", "range(arrival_delay_hours, None..48.0)"): (
            "warn",
            False,
            200,
            "stage_sales",
        ),
    }
    assert {k for k, v in results.items() if v[1]} == {
        ("shop_customers", "row_count(1000..None)"),
        ("shop_products", "unique(product_id)"),
        ("stg_customers", "unique(customer_id)"),
        ("stg_customers", "not_null(customer_id, updated_at)"),
        ("stg_sales", "unique(sale_id)"),
        ("stg_sales", "row_count(1..None)"),
        ("fact_sales", "not_null(customer_sk, product_sk, date_key)"),
    }
    assert (
        failed[("stg_sales", "range(arrival_delay_hours, None..48.0)")][2] == INJECTED["late_sales"]
    )

    # the star schema: every sale the shop's tables allow, once, with the customer's version
    facts = one(pg, ORACLE_FACTS)
    assert facts == 100_000 - 50 - 40 - 30 == 99_880
    assert one(pg, "SELECT count(*), count(DISTINCT sale_id) FROM fact_sales") == (facts, facts)
    assert one(pg, "SELECT count(*), count(*) FILTER (WHERE is_current) FROM dim_customer") == (
        1_000,
        1_000,
    )
    assert one(pg, "SELECT count(*) FROM dim_product") == 500
    assert one(pg, "SELECT count(*), min(date_key), max(date_key) FROM dim_date") == (
        1_095,
        20250101,
        20271231,
    )
    assert one(
        pg,
        "SELECT sum(f.amount) = (SELECT sum(amount) FROM (SELECT DISTINCT ON (sale_id) * "
        "FROM shop_sales ORDER BY sale_id, loaded_at DESC) s WHERE s.customer_id IN "
        "(SELECT customer_id FROM shop_customers) AND s.amount BETWEEN 0.01 AND 10000) "
        "FROM fact_sales f",
    )
    assert one(pg, "SELECT count(*) FROM fact_sales f JOIN dim_date d USING (date_key)") == facts

    # the alerts: one per failing rule, and the dead letters above the threshold
    wait_for(hook.requests, 13)
    titles = sorted(r.json()["title"] for r in hook.requests)
    assert len(titles) == 13, titles
    assert "[spark-etl] warehouse: quality warning on stg_sales" in titles
    assert "[spark-etl] warehouse: 120 record(s) dead-lettered" in titles, titles

    # the same night again: nothing new in the shop, nothing changes
    before = pg.execute("SELECT * FROM dim_customer ORDER BY customer_sk").fetchall()
    run_pipeline("warehouse")
    assert pg.execute("SELECT * FROM dim_customer ORDER BY customer_sk").fetchall() == before
    assert one(pg, "SELECT count(*) FROM fact_sales") == facts


def test_day_two_versions_changed_customers_loads_new_sales_and_the_lake_restates(
    gallery: dict[str, Any],
    pg: psycopg.Connection[Any],
    spark: SparkSession,
    s3_credentials: dict[str, Any],
) -> None:
    env: Env = gallery["env"]
    seed(env, 2)
    late = one(
        pg,
        "SELECT count(*), sum(amount) FROM (SELECT DISTINCT ON (sale_id) * FROM shop_sales "
        "WHERE sale_id > 100000 ORDER BY sale_id, loaded_at DESC) s "
        "WHERE sold_at < '2026-03-20' AND customer_id IN (SELECT customer_id FROM shop_customers) "
        "AND amount BETWEEN 0.01 AND 10000",
    )

    end = run_end(env.run("warehouse"))

    assert end["writes"]["fact_sales"]["records"] == 10_000 - 5 - 4 - 3  # only the new day
    facts = one(pg, ORACLE_FACTS)
    assert facts == 99_880 + 9_988
    assert one(pg, "SELECT count(*), count(DISTINCT sale_id) FROM fact_sales") == (facts, facts)
    # SCD2: 100 customers changed (a closed version each), 20 new ones
    assert one(
        pg,
        "SELECT count(*), count(*) FILTER (WHERE is_current), count(*) FILTER (WHERE valid_to "
        "IS NOT NULL) FROM dim_customer",
    ) == (1_120, 1_020, 100)
    assert (
        one(
            pg,
            "SELECT count(*) FROM dim_customer old JOIN dim_customer new USING (customer_id) "
            "WHERE old.valid_to = new.valid_from AND new.is_current AND old.city <> new.city",
        )
        == 100
    )
    # each sale has the customer's version that was current when it was sold
    assert (
        one(
            pg,
            "SELECT count(*) FROM fact_sales f JOIN dim_customer c USING (customer_sk) "
            "WHERE f.sold_at >= c.valid_from AND (c.valid_to IS NULL OR f.sold_at < c.valid_to)",
        )
        == facts
    )

    # the lake has the same facts; its first version has the first night's
    lake = DeltaDataset(path=f"s3a://{LAKE_BUCKET}/{LAKE_PREFIX}", credentials=s3_credentials)
    assert lake.load().count() == facts
    first = DeltaDataset(
        path=f"s3a://{LAKE_BUCKET}/{LAKE_PREFIX}",
        credentials=s3_credentials,
        load_args={"versionAsOf": 0},
    )
    assert first.load().count() == 99_880

    restated = run_end(env.run("warehouse_restatement"))
    assert restated["status"] == "success"
    count, amount = late
    assert count == 20  # the day's late sales, sold in the first weeks
    assert one(
        pg, "SELECT sum(sales_now - sales_first_load), sum(restated_by) FROM revenue_restatement"
    ) == (
        count,
        amount,
    )


def test_a_failing_fact_load_is_resumed_and_nothing_is_counted_twice(
    gallery: dict[str, Any], pg: psycopg.Connection[Any]
) -> None:
    env: Env = gallery["env"]
    seed(env, 3)
    facts_before = one(pg, "SELECT count(*) FROM fact_sales")
    user = one(pg, "SELECT current_user")
    pg.execute(f"REVOKE INSERT, UPDATE ON fact_sales FROM {user}")  # a DBA's mistake
    try:
        failed = env.run("warehouse")
    finally:
        pg.execute(f"GRANT INSERT, UPDATE ON fact_sales TO {user}")

    assert failed.returncode == 2, failed.stderr  # a matter of grants: not retried
    said = failed.stderr
    assert (
        "Error: The database refused a privilege: ERROR: permission denied for table "
        "fact_sales" in said
    ), said
    assert "grant that user the privilege named above" in said
    (resume,) = re.findall(r"to run only what did not finish: (kedro run .*)$", said, re.M)
    assert resume == (
        f'kedro run --pipelines warehouse --env {env.name} --from-nodes "load_fact_sales"'
    )
    assert one(pg, "SELECT count(*) FROM fact_sales") == facts_before  # nothing half-written
    # the dimensions before it were written (a re-run finds them unchanged: the compensation is
    # that every step is idempotent), the staged sales' state was not committed
    assert one(pg, "SELECT count(*) FILTER (WHERE is_current) FROM dim_customer") == 1_040

    resumed = run_end(run_command(resume))
    assert sorted(resumed["writes"]) == ["fact_sales", "fact_sales_lake"]  # only what was left
    assert resumed["writes"]["fact_sales"]["records"] == 9_988
    facts = one(pg, ORACLE_FACTS)
    assert one(pg, "SELECT count(*), count(DISTINCT sale_id) FROM fact_sales") == (facts, facts)
    assert facts == facts_before + 9_988

    again = json_events(env.run("warehouse").stdout)
    (end,) = [e for e in again if e.get("event") == "run_end"]
    assert end["writes"]["fact_sales"]["records"] == 0  # the state moved past the resumed rows
    assert one(pg, "SELECT count(*) FROM fact_sales") == facts
