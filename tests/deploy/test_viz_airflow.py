"""kedro-viz serves every pipeline headless; kedro-airflow turns a pipeline into a DAG file."""

from __future__ import annotations

import ast
import json
import os
import random
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from kedro.framework.startup import bootstrap_project
from spark_etl_example.pipeline_registry import register_pipelines

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
ROOT = REPO / "example"
KEDRO = str(REPO / ".venv" / "bin" / "kedro")


def free_port() -> int:
    """A free port below 49152 (kedro-viz refuses the ephemeral range)."""
    for port in random.sample(range(41000, 49000), 50):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise AssertionError("no free port for kedro viz")


def test_kedro_viz_lists_every_pipeline_and_its_nodes(services: dict[str, str]) -> None:
    port = free_port()
    viz = subprocess.Popen(
        [KEDRO, "viz", "run", "--host", "127.0.0.1", "--port", str(port), "--no-browser"],
        cwd=ROOT,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        main = get_json(viz, f"http://127.0.0.1:{port}/api/main")
        declared = get_json(viz, f"http://127.0.0.1:{port}/api/pipelines/batch_completed_revenue")
    finally:
        os.killpg(viz.pid, signal.SIGTERM)
        viz.wait(timeout=30)
    listed = {p["id"] for p in main["pipelines"]}
    assert {
        "batch_s3_pg",
        "batch_s3_mysql_s3",
        "batch_pg_mysql_kafka",
        "batch_kafka_s3",
        "streaming_kafka_pg",
        "streaming_kafka_s3",
        "batch_completed_revenue",
        "batch_event_counts",
    } <= listed
    default_nodes = {n["name"] for n in main["nodes"] if n["type"] == "task"}
    assert default_nodes == {
        "extract_user_events",
        "summarise_users",
        "batch_event_counts.0_time_window",
    }
    declared_nodes = {n["name"] for n in declared["nodes"] if n["type"] == "task"}
    assert declared_nodes == {
        "batch_completed_revenue.0_filter",
        "batch_completed_revenue.1_aggregate",
    }


def get_json(viz: subprocess.Popen[bytes], url: str) -> dict[str, Any]:
    """GET ``url`` once kedro viz answers (it loads the project first: on a slow machine, with
    every pipeline's catalog, that took over four minutes once)."""
    deadline = time.monotonic() + 600
    while True:
        assert viz.poll() is None, "kedro viz exited"
        assert time.monotonic() < deadline, "kedro viz did not answer in time"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return dict(json.load(response))
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(1)


def test_kedro_airflow_writes_a_dag_that_parses(tmp_path: Path) -> None:
    result = subprocess.run(
        [KEDRO, "airflow", "create", "--pipelines", "batch_s3_pg", "--target-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (dag,) = tmp_path.glob("*.py")
    source = dag.read_text()
    ast.parse(source)  # valid Python
    bootstrap_project(ROOT)
    for node in register_pipelines()["batch_s3_pg"].nodes:
        assert node.name.replace("_", "-") in source or node.name in source
