"""DAGs generated from schedules.yml, run for real by Airflow 3 (``airflow dags test``, its own
virtualenv from `make airflow`, a SQLite database) on the local standalone Spark cluster: the
tasks spark-submit the packaged project, the rows are in PostgreSQL; a DAG whose pipeline
fails sends its notification to an HTTP receiver on 127.0.0.1 (standing in for a webhook)."""

from __future__ import annotations

import ast
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from kedro_run import RAW_BUCKET, Env, clear_prefix, put_raw, s3_client
from receivers import http_receiver
from spark_etl_example.sample_data import expected_user_summary, user_events, user_events_csv

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
ROOT = REPO / "example"
KEDRO = str(REPO / ".venv" / "bin" / "kedro")


def airflow_bin() -> Path:
    venv = os.environ.get("SPARK_ETL_AIRFLOW_VENV") or str(
        Path(os.environ.get("SPARK_ETL_HOME", Path.home() / ".cache" / "spark-etl"))
        / "airflow-3.3.2"
    )
    found = Path(venv) / "bin" / "airflow"
    if not found.is_file():
        pytest.fail(f"Airflow is not installed at {venv}: run `make airflow`.", pytrace=False)
    return found


def run(command: list[str], env: dict[str, str] | None = None, **kwargs: Any) -> str:
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
        env={**os.environ, "DO_NOT_TRACK": "1", "KEDRO_DISABLE_TELEMETRY": "1", **(env or {})},
        **kwargs,
    )
    assert done.returncode == 0, f"{command}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout + done.stderr


def test_generated_dags_run_on_airflow_and_a_failure_is_notified(
    conf_env: Env, services: dict[str, str], pg: Any, tmp_path: Path
) -> None:
    airflow = airflow_bin()
    with http_receiver() as hook:
        conf_env.write(
            "notifications.yml",
            {"channels": {"hook": {"url": f"json://127.0.0.1:{hook.port}/airflow"}}},
        )
        conf_env.write(
            "schedules.yml",
            {
                "schedules": {
                    "nightly": {
                        "cron": "0 2 * * *",
                        "cluster": "standalone",
                        "sla": "2h",
                        "pipelines": {
                            "batch_s3_pg": {},
                            "batch_event_counts": {"after": ["batch_s3_pg"]},
                        },
                    },
                    "broken": {
                        "cron": "@hourly",
                        "cluster": "standalone",
                        "notify": ["hook"],
                        "pipelines": {"batch_s3_pg": {}},
                    },
                }
            },
        )
        # the packaged project holds this test's conf environment (the run's --env)
        run(["make", "-s", "spark"], cwd=REPO)
        run(["make", "-s", "package"], cwd=REPO)
        dags = tmp_path / "dags"
        said = run(
            [KEDRO, "spark-etl", "airflow", "--target-dir", str(dags), "--env", conf_env.name],
            cwd=ROOT,
        )
        assert "DAG spark_etl_nightly (batch_event_counts, batch_s3_pg)" in said  # YAML sorted
        source = (dags / "spark_etl_nightly.py").read_text()
        ast.parse(source)  # valid Python
        assert '"retries": 0' in source  # the runner retries, not Airflow

        home = tmp_path / "airflow"
        airflow_env = {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        }
        run([str(airflow), "db", "migrate"], env=airflow_env)
        run([str(airflow), "dags", "reserialize"], env=airflow_env)  # what the processor does
        errors = run([str(airflow), "dags", "list-import-errors"], env=airflow_env)
        assert "No data found" in errors, errors  # both files import
        listed = run([str(airflow), "dags", "list"], env=airflow_env)
        assert "spark_etl_nightly" in listed and "spark_etl_broken" in listed

        events = list(user_events(1_500, users=20, seed=51))
        put_raw(services, "user_events/", user_events_csv(events))
        pg.execute("DROP TABLE IF EXISTS user_summary")
        pg.execute("DROP TABLE IF EXISTS daily_event_counts")
        out = run([str(airflow), "dags", "test", "spark_etl_nightly"], env=airflow_env)
        assert "state=success" in out or "DagRunState.SUCCESS" in out, out[-3000:]

        rows = dict(pg.execute("SELECT user_id, total_events FROM user_summary").fetchall())
        expected = expected_user_summary(events)
        assert rows == {u: w.total_events for u, w in expected.items()}
        (counted,) = pg.execute("SELECT sum(events) FROM daily_event_counts").fetchone()
        assert counted == len(events)  # the second task ran after the first, on its output
        assert hook.requests == []  # nothing failed: nothing sent

        # the raw folder emptied: batch_s3_pg fails (its source has nothing), the DAG too
        clear_prefix(s3_client(services), RAW_BUCKET, "user_events/")
        subprocess.run(
            [str(airflow), "dags", "test", "spark_etl_broken"],
            env={**os.environ, **airflow_env},
            capture_output=True,
            timeout=900,
            check=False,
        )
        sent = [r.json() for r in hook.requests]
    titles = [s.get("title") for s in sent]
    assert "[spark-etl] batch_s3_pg failed in schedule broken" in titles, sent
    (notice,) = [s for s in sent if s.get("title", "").endswith("in schedule broken")]
    assert "Task batch_s3_pg of spark_etl_broken failed on Airflow" in notice["message"]
