"""``scripts/services.sh``: status of the running stack; a failure names the server and its log."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "services.sh"


def run_script(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_status_lists_every_server_up_with_its_address_and_log(services: dict[str, str]) -> None:
    result = run_script("status")
    assert result.returncode == 0, result.stderr
    lines = {line.split()[1]: line for line in result.stdout.splitlines()}
    assert set(lines) == {"postgres", "mariadb", "s3", "kafka"}
    assert all(" up " in line for line in lines.values())
    assert f"127.0.0.1:{services['SPARK_ETL_PG_PORT']}" in lines["postgres"]
    assert services["SPARK_ETL_KAFKA_BOOTSTRAP"] in lines["kafka"]
    assert "log=" in lines["s3"]


def test_unknown_server_is_refused_by_name() -> None:
    result = run_script("up", "oracle")
    assert result.returncode == 1
    assert "unknown server 'oracle'" in result.stderr
    assert "postgres mariadb s3 kafka" in result.stderr


def test_server_that_cannot_start_is_named_with_its_log(tmp_path: Path) -> None:
    with socket.socket() as squatter:  # the port is taken, so moto cannot bind it
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        result = run_script(
            "up",
            "s3",
            env={
                "SPARK_ETL_LOCAL": str(tmp_path),
                "SPARK_ETL_S3_PORT": str(port),
                "SPARK_ETL_WAIT_SECONDS": "20",
            },
        )
    assert result.returncode == 1
    log = tmp_path / "s3" / "moto.log"
    assert f"services: error: s3 exited before it answered on 127.0.0.1:{port}" in result.stderr
    assert f"its log is {log}" in result.stderr
    assert not (tmp_path / "services.env").exists()
