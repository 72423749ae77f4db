"""The commands the generated DAGs call, through ``kedro``: the file-arrival check against the
real S3 server, a notification to an HTTP receiver on 127.0.0.1, and the DAG generator's
errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from kedro_run import Env, put_raw
from kedro_run import spark_etl_command as spark_etl
from receivers import http_receiver

pytestmark = pytest.mark.integration


def test_arrived_says_whether_files_came_since(services: dict[str, str]) -> None:
    put_raw(services, "user_events/", "event_id,user_id\n")
    hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    came = spark_etl("arrived", "--dataset", "raw_user_events", "--since", hour_ago)
    assert came.returncode == 0, came.stderr[-2000:]
    assert f"raw_user_events: 1 file(s) modified after {hour_ago}: part-0000.csv" in came.stdout

    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    none = spark_etl("arrived", "--dataset", "raw_user_events", "--since", later)
    assert none.returncode == 1
    assert f"raw_user_events: no file modified after {later}" in none.stdout

    wrong = spark_etl("arrived", "--dataset", "user_summary", "--since", later)
    assert wrong.returncode == 2
    assert "Error: Catalog entry 'user_summary' is not an S3Dataset." in wrong.stderr


def test_notify_sends_through_the_project_s_channels(conf_env: Env) -> None:
    with http_receiver() as hook:
        conf_env.write(
            "notifications.yml", {"channels": {"hook": {"url": f"json://127.0.0.1:{hook.port}/"}}}
        )
        sent = spark_etl(
            "notify",
            "schedule_failed",
            "--env",
            conf_env.name,
            "--channel",
            "hook",
            "--value",
            "pipeline=batch_s3_pg",
            "--value",
            "schedule=nightly",
            "--value",
            "dag=spark_etl_nightly",
            "--value",
            "exit_code=3",
        )
        assert sent.returncode == 0, sent.stderr[-2000:]
        assert sent.stdout.strip().endswith("schedule_failed: sent to hook")
        (got,) = [r.json() for r in hook.requests]
    assert got["title"] == "[spark-etl] batch_s3_pg failed in schedule nightly"
    assert got["message"].startswith(
        "Task batch_s3_pg of spark_etl_nightly failed on Airflow with exit code 3."
    )

    unknown = spark_etl("notify", "schedule_failed", "--env", conf_env.name, "--channel", "hok")
    assert unknown.returncode == 2
    assert "Error: notifications.yml defines no channel 'hok' (defined: hook)." in unknown.stderr


def test_airflow_names_a_schedule_s_unknown_pipeline(conf_env: Env) -> None:
    conf_env.write(
        "schedules.yml",
        {"schedules": {"x": {"cron": "@daily", "cluster": "local", "pipelines": {"batch_s3": {}}}}},
    )
    done = spark_etl("airflow", "--env", conf_env.name, "--target-dir", str(conf_env.path / "d"))
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "Error: schedules.yml: schedules.x.pipelines names 'batch_s3', which is not a "
        "pipeline. Did you mean 'batch_s3_pg'?"
    )
