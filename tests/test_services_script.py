"""``scripts/services.sh``: status of the running stack; a failure names the server and its log."""

from __future__ import annotations

import os
import re
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
    with socket.socket() as squatter:  # bound but not listening: moto starts, then cannot bind
        squatter.bind(("127.0.0.1", 0))
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


def test_port_another_process_listens_on_is_refused_before_starting(tmp_path: Path) -> None:
    with socket.socket() as squatter:  # someone else's server already answers on the port
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        result = run_script(
            "up", "s3", env={"SPARK_ETL_LOCAL": str(tmp_path), "SPARK_ETL_S3_PORT": str(port)}
        )
    assert result.returncode == 1
    assert (
        f"services: error: s3: 127.0.0.1:{port} is already taken by another process; "
        "stop that process, or move s3 with SPARK_ETL_S3_PORT=<free port>"
    ) in result.stderr
    assert not (tmp_path / "s3" / "moto.pid").exists()  # nothing was started
    assert not (tmp_path / "services.env").exists()


def test_default_ports_are_outside_the_ephemeral_range() -> None:
    """A client socket (a test's, a Spark driver's) may hold any port of the ephemeral range, so a
    server started late, as Spark's master is in `make test`, could find its port taken."""
    defaults = [
        int(value)
        for value in re.findall(r'_PORT="\$\{SPARK_ETL_\w+_PORT:-(\d+)\}"', SCRIPT.read_text())
    ]
    low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    assert len(defaults) == 7
    assert [port for port in defaults if low <= port <= high] == []
