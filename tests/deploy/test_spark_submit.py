"""The packaged example project on a real Spark standalone cluster (a master and a worker on
127.0.0.1)."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from kedro_run import s3_client
from spark_etl_example.sample_data import expected_user_summary, user_events, user_events_csv

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
ROOT = REPO / "example"
DIST = ROOT / "dist"
KEDRO = str(REPO / ".venv" / "bin" / "kedro")


@pytest.fixture(scope="module")
def cluster() -> str:
    """The standalone master (started if needed) and a fresh `make package`."""
    for command in (["make", "-s", "spark"], ["make", "-s", "package"]):
        done = subprocess.run(
            command, cwd=REPO, capture_output=True, text=True, timeout=600, check=False
        )
        if done.returncode != 0:  # the script's own message names the server, its log, its tail
            pytest.fail(f"`{' '.join(command)}` failed:\n{done.stdout}{done.stderr}", pytrace=False)
    return "spark://127.0.0.1:" + os.environ.get("SPARK_ETL_SPARK_MASTER_PORT", "27077")


def completed_apps() -> int:
    """Applications the standalone master has seen finish (its JSON status page)."""
    port = os.environ.get("SPARK_ETL_SPARK_UI_PORT", "28080")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/", timeout=10) as page:
        return len(json.load(page).get("completedapps", []))


def spark_submit(pipeline: str, env: dict[str, str] | None = None) -> str:
    """``kedro spark-etl submit --cluster standalone``: the example's profile of the local
    master (its connectors from the local Maven cache: offline), the driver here."""
    result = subprocess.run(
        [KEDRO, "spark-etl", "submit", "--cluster", "standalone", "--pipeline", pipeline],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "DO_NOT_TRACK": "1", "KEDRO_DISABLE_TELEMETRY": "1", **(env or {})},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    said = result.stderr.splitlines()
    assert said[0] == "Submitting " + pipeline + " to standalone (standalone):", said[:2]
    assert " --master spark://127.0.0.1:" in said[1] and " --deploy-mode client " in said[1]
    return result.stdout + result.stderr


def test_batch_s3_pg_on_the_cluster_gives_the_same_rows_as_kedro_run(
    cluster: str, services: dict[str, str], pg: Any
) -> None:

    events = list(user_events(2_000, users=25, seed=41))
    s3 = s3_client(services)
    for obj in s3.list_objects_v2(Bucket="spark-etl-example-raw", Prefix="user_events/").get(
        "Contents", []
    ):
        s3.delete_object(Bucket="spark-etl-example-raw", Key=obj["Key"])
    s3.put_object(
        Bucket="spark-etl-example-raw",
        Key="user_events/part-0000.csv",
        Body=user_events_csv(events).encode(),
    )
    pg.execute("DROP TABLE IF EXISTS user_summary")

    before = completed_apps()
    spark_submit("batch_s3_pg")

    assert completed_apps() == before + 1  # the run used the cluster, not a local master
    rows = {
        r[0]: r[1:]
        for r in pg.execute(
            "SELECT user_id, total_events, total_amount FROM user_summary"
        ).fetchall()
    }
    expected = expected_user_summary(events)
    assert {u: (r[0], round(r[1], 2)) for u, r in rows.items()} == {
        u: (w.total_events, w.total_amount) for u, w in expected.items()
    }


def test_bounded_streaming_run_on_the_cluster(
    cluster: str, services: dict[str, str], pg: Any, tmp_path: Path, spark: Any
) -> None:
    import kedro_run
    from pyspark.sql import SparkSession

    spark = SparkSession.getActiveSession()
    assert spark is not None

    kedro_run.reset_topic(spark, services["SPARK_ETL_KAFKA_BOOTSTRAP"], "user-events")
    events = sorted(user_events(5_000, users=20, seed=42), key=lambda e: e.timestamp)
    kedro_run.produce_events(spark, services["SPARK_ETL_KAFKA_BOOTSTRAP"], events)
    pg.execute("DROP TABLE IF EXISTS event_counts")

    spark_submit(
        "streaming_kafka_pg",
        env={
            "SPARK_ETL_STREAM_TRIGGER": "available-now",
            "SPARK_ETL_CHECKPOINTS": str(tmp_path / "ckpt"),
        },
    )

    total = pg.execute("SELECT sum(events) FROM event_counts").fetchone()
    assert total == (2 * len(events),)  # every event counted in its two sliding windows
