"""The local stack (``kedro services``): servers from ``services*.yml``, passwords only in the
vault, failures named with the server and its log."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from spark_etl import stack
from spark_etl.stack.services import SECRETS, LocalVault, ensure_secrets, load_config

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "example"
SCRIPT = Path(stack.__file__).parent / "services.sh"


def run_stack(
    *args: str, cwd: Path = EXAMPLE, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m spark_etl.stack ARGS`` (what ``kedro services ARGS`` runs) in ``cwd``."""
    return subprocess.run(
        [sys.executable, "-m", "spark_etl.stack", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, **(env or {})},
        check=False,
    )


def project(tmp_path: Path, services_yml: str) -> Path:
    (tmp_path / "conf" / "base").mkdir(parents=True)
    (tmp_path / "conf" / "base" / "services.yml").write_text(services_yml)
    return tmp_path


def test_status_lists_the_example_s_servers_up_with_address_and_log(
    services: dict[str, str],
) -> None:
    result = run_stack("status")
    assert result.returncode == 0, result.stderr
    lines = {
        line.split()[1]: line for line in result.stdout.splitlines() if line.startswith("services:")
    }
    assert set(lines) == {
        "postgres",
        "mariadb",
        "s3",
        "kafka",
    }  # services.yml + services_example.yml
    assert all(" up " in line for line in lines.values())
    assert f"127.0.0.1:{services['SPARK_ETL_PG_PORT']}" in lines["postgres"]
    assert "db=spark_etl_example user=spark_etl_example" in lines["postgres"]
    assert "buckets=spark-etl-example-raw spark-etl-example-lake" in lines["s3"]
    assert services["SPARK_ETL_KAFKA_BOOTSTRAP"] in lines["kafka"]


def test_the_endpoints_file_holds_no_password_and_the_vault_holds_them(
    services: dict[str, str],
) -> None:
    text = (EXAMPLE / ".local" / "services.env").read_text()
    for variable in (
        "SPARK_ETL_PG_PASSWORD",
        "SPARK_ETL_MYSQL_PASSWORD",
        "SPARK_ETL_S3_SECRET_KEY",
    ):
        assert variable not in text
        assert services[variable] not in text  # read from the vault by read_local_stack
    assert "SPARK_ETL_VAULT_PATH=" in text and "SPARK_ETL_VAULT_KEY_FILE=" in text
    key_file = EXAMPLE / ".local" / "vault" / "master.key"
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"


def test_secrets_are_made_once_and_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARK_ETL_LOCAL", str(tmp_path / ".local"))
    for name in ("SPARK_ETL_VAULT_PATH", "SPARK_ETL_VAULT_KEY_FILE", "SPARK_ETL_VAULT_PASSPHRASE"):
        monkeypatch.delenv(name, raising=False)
    root = project(tmp_path, "postgres: {database: shop, user: shop_etl}\ns3: {buckets: [b]}\n")
    assert load_config(root).servers() == ["postgres", "s3"]
    local = LocalVault(root)
    first = ensure_secrets(local.open(), ["postgres", "s3"])
    again = ensure_secrets(LocalVault(root).open(), ["postgres", "s3"])
    assert first == again and set(first) == {
        "SPARK_ETL_PG_PASSWORD",
        "SPARK_ETL_S3_ACCESS_KEY",
        "SPARK_ETL_S3_SECRET_KEY",
    }
    vault = local.open()
    assert vault.get("postgres.password") == first["SPARK_ETL_PG_PASSWORD"]
    assert set(vault.list()) == {*SECRETS["postgres"], *SECRETS["s3"]}  # no user, no endpoint


def test_a_mistake_in_services_yml_is_named_in_one_line(tmp_path: Path) -> None:
    root = project(tmp_path, "postgress: {}\n")
    result = run_stack("up", cwd=root)
    assert result.returncode == 1
    assert result.stderr.startswith("services: error: Invalid local stack in ")
    assert "postgress: Extra inputs are not permitted" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_server_is_refused_by_name() -> None:
    result = run_stack("up", "oracle")
    assert result.returncode == 2
    assert "'oracle' is not one of 'postgres', 'mariadb', 's3', 'kafka', 'spark'" in result.stderr


def test_server_that_cannot_start_is_named_with_its_log(tmp_path: Path) -> None:
    root = project(tmp_path, "s3: {buckets: [b]}\n")
    with socket.socket() as squatter:  # bound but not listening: moto starts, then cannot bind
        squatter.bind(("127.0.0.1", 0))
        port = squatter.getsockname()[1]
        result = run_stack(
            "up",
            cwd=root,
            env={
                "SPARK_ETL_LOCAL": str(tmp_path / ".local"),
                "SPARK_ETL_S3_PORT": str(port),
                "SPARK_ETL_WAIT_SECONDS": "20",
            },
        )
    assert result.returncode == 1
    log = tmp_path / ".local" / "s3" / "moto.log"
    assert f"services: error: s3 exited before it answered on 127.0.0.1:{port}" in result.stderr
    assert f"its log is {log}" in result.stderr
    assert not (tmp_path / ".local" / "services.env").exists()


def test_port_another_process_listens_on_is_refused_before_starting(tmp_path: Path) -> None:
    root = project(tmp_path, "s3: {buckets: [b]}\n")
    with socket.socket() as squatter:  # someone else's server already answers on the port
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        result = run_stack(
            "up",
            cwd=root,
            env={"SPARK_ETL_LOCAL": str(tmp_path / ".local"), "SPARK_ETL_S3_PORT": str(port)},
        )
    assert result.returncode == 1
    assert (
        f"services: error: s3: 127.0.0.1:{port} is already taken by another process; "
        "stop that process, or move s3 with SPARK_ETL_S3_PORT=<free port>"
    ) in result.stderr
    assert not (tmp_path / ".local" / "s3" / "moto.pid").exists()  # nothing was started
    assert not (tmp_path / ".local" / "services.env").exists()


def test_a_project_without_servers_is_told_where_to_list_them(tmp_path: Path) -> None:
    (tmp_path / "conf" / "base").mkdir(parents=True)
    result = run_stack("up", cwd=tmp_path)
    assert result.returncode == 1
    assert "No servers to start: list them in conf/base/services.yml" in result.stderr


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


@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs the servers as their system users")
def test_a_data_folder_the_server_s_user_cannot_reach_is_named(tmp_path: Path) -> None:
    """As root, PostgreSQL runs as the system user postgres: a project under a 0700 folder (as
    pytest's own temporary folders are, or /root) is refused with what to do, before initdb."""
    root = project(tmp_path, "postgres: {}\n")
    tmp_path.chmod(0o700)
    result = run_stack("up", cwd=root, env={"SPARK_ETL_PG_PORT": "26999"})
    assert result.returncode == 1
    assert (
        f"services: error: postgres runs as the system user 'postgres', which cannot reach "
        f"{tmp_path / '.local' / 'postgres'}; move the project to a folder it can reach, or set "
        "SPARK_ETL_LOCAL to one"
    ) in result.stderr
    assert not (tmp_path / ".local" / "postgres" / "data").exists()
