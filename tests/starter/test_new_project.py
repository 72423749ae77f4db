"""A user's first day, for real: the framework's wheel alone in a fresh virtualenv, then a new
project from the starter (``kedro new``) that installs that wheel, starts its own local stack,
runs its pipelines, passes its own tests and runs on a Spark standalone cluster."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from spark_etl_example.sample_data import connect_postgres, expected_user_summary, user_events

from spark_etl.stack import read_local_stack
from starter import QUIET, REPO, STARTER, kedro_new

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: The new project's own servers, on ports of their own (below the ephemeral range), beside the
#: example's stack that the rest of the suite uses.
PORTS = {
    "SPARK_ETL_PG_PORT": "26432",
    "SPARK_ETL_S3_PORT": "26000",
    "SPARK_ETL_MYSQL_PORT": "26306",
    "SPARK_ETL_KAFKA_PORT": "26092",
    "SPARK_ETL_KAFKA_CONTROLLER_PORT": "26093",
    "SPARK_ETL_SPARK_MASTER_PORT": "26077",
    "SPARK_ETL_SPARK_UI_PORT": "26080",
}
CONFIG = {"project_name": "Acme Orders"}
DEMO_EVENTS, DEMO_USERS = 20_000, 500

#: Run in the fresh virtualenv, outside the checkout: import every module of the installed
#: framework and say where each one came from and what else got imported.
IMPORT_EVERYTHING = """
import importlib, json, pkgutil, sys
import spark_etl
from spark_etl.runtime import jars, localfs
names = [m.name for m in pkgutil.walk_packages(spark_etl.__path__, "spark_etl.")]
for name in names:
    importlib.import_module(name)
print(json.dumps({
    "modules": names,
    "files": sorted({getattr(sys.modules[n], "__file__", "") or "" for n in names}),
    "foreign": sorted(n for n in sys.modules if n.split(".")[0] in
                      ("spark_etl_example", "tests", "bench", "kedro_run", "datagen", "starter")),
    "jar": str(localfs.helper_jar()),
    "pom": str(jars.default_pom()),
    "version": spark_etl.__version__,
}))
"""


def own_env(**extra: str) -> dict[str, str]:
    """The environment of the new project's commands: none of the example stack's endpoints
    (which would win over the project's own), its ports, spark-etl from the wheel's folder."""
    kept = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SPARK_ETL_") and k not in ("VIRTUAL_ENV", "COVERAGE_FILE")
    }
    home = os.environ.get("SPARK_ETL_HOME", str(Path.home() / ".cache" / "spark-etl"))
    return {**kept, **QUIET, **PORTS, "SPARK_ETL_HOME": home, **extra}


def run(
    command: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: int = 1200
) -> str:
    """Run ``command`` (in ``env``, else this process's environment); its output, or a failure
    that shows the end of it."""
    done = subprocess.run(
        command,
        cwd=cwd,
        env=env if env is not None else {**os.environ, **QUIET},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"`{' '.join(command)}` failed:\n{output[-6000:]}"
    return output


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The framework's wheel, built as ``pip wheel .`` builds it (an isolated build)."""
    out = tmp_path_factory.mktemp("wheel")
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(REPO)], REPO)
    (built,) = out.glob("spark_etl-*.whl")
    return built


def fresh_venv(folder: Path) -> Path:
    """A new virtualenv's ``bin/``: the machine's Python 3.11, nothing installed."""
    run([os.environ.get("PYTHON", "python3.11"), "-m", "venv", str(folder)], folder.parent)
    return folder / "bin"


def test_the_wheel_alone_imports_every_module_without_the_checkout(
    wheel: Path, tmp_path: Path
) -> None:
    with zipfile.ZipFile(wheel) as built:
        names = built.namelist()
    outside_starter = [n for n in names if not n.startswith("spark_etl/starter/")]
    assert "spark_etl/runtime/spark-etl-localfs.jar" in names
    assert "spark_etl/runtime/connectors.pom.xml" in names
    assert {"spark_etl/stack/services.sh", "spark_etl/stack/kafka.pom.xml"} <= set(names)
    assert "spark_etl/starter/{{ cookiecutter.repo_name }}/.ci/run" in names
    assert "spark_etl/starter/{{ cookiecutter.repo_name }}/.gitignore" in names
    for word in ("pipelines/", "datagen", "sample_data", "tests/", "bench/", "example"):
        assert not [n for n in outside_starter if word in n], word

    bin_dir = fresh_venv(tmp_path / "venv")
    run([str(bin_dir / "pip"), "install", "-q", str(wheel)], tmp_path, env=own_env())
    out = run([str(bin_dir / "python"), "-c", IMPORT_EVERYTHING], tmp_path, env=own_env())
    report = json.loads(next(line for line in out.splitlines() if line.startswith('{"modules"')))
    site = str(tmp_path / "venv")
    assert len(report["modules"]) >= 40
    assert [f for f in report["files"] if not f.startswith(site)] == []
    assert report["foreign"] == []
    assert report["jar"].startswith(site) and report["pom"].startswith(site)
    assert not any(m.startswith("spark_etl.pipelines") for m in report["modules"])


@pytest.fixture(scope="module")
def project(wheel: Path) -> Iterator[Path]:
    """A new project, generated with a two-word name, in a folder the servers' system users can
    reach (pytest's own are 0700); its servers are stopped and the folder removed at the end."""
    folder = Path(tempfile.mkdtemp(prefix="spark-etl-new-project-"))
    folder.chmod(0o755)
    created = kedro_new(folder, CONFIG, starter=str(STARTER))
    assert created.name == "acme-orders"
    assert (created / "src" / "acme_orders" / "pipelines" / "batch_s3_pg" / "nodes.py").is_file()
    try:
        yield created
    finally:
        kedro = created / ".venv" / "bin" / "kedro"
        if kedro.is_file():
            subprocess.run(
                [str(kedro), "services", "down"],
                cwd=created,
                env=own_env(),
                capture_output=True,
                timeout=300,
                check=False,
            )
        shutil.rmtree(folder, ignore_errors=True)


def make(project: Path, wheel: Path, *targets: str) -> str:
    """``make TARGETS`` in the new project, spark-etl taken from the wheel's folder."""
    return run(["make", *targets], project, env=own_env(PIP_FIND_LINKS=str(wheel.parent)))


def pg_rows(project: Path, sql: str) -> list[tuple[Any, ...]]:
    """Rows of the new project's own PostgreSQL (its endpoints file and its vault)."""
    stack = read_local_stack(project)
    assert stack["SPARK_ETL_PG_PORT"] == PORTS["SPARK_ETL_PG_PORT"]
    with connect_postgres(stack) as conn:
        return list(conn.execute(sql).fetchall())


def test_a_new_project_runs_its_demo_its_tests_and_on_a_spark_cluster(
    project: Path, wheel: Path
) -> None:
    # make demo: its venv with the wheel, its own stack, kedro run of both pipelines
    out = make(project, wheel, "demo")
    assert f"demo: user_summary holds {DEMO_USERS} rows" in out
    venv = project / ".venv"
    installed = run([str(venv / "bin" / "pip"), "show", "spark-etl"], project, env=own_env())
    assert f"Location: {venv}" in installed  # the wheel's, not this checkout's

    expected = expected_user_summary(list(user_events(DEMO_EVENTS, users=DEMO_USERS, seed=42)))
    rows = dict(pg_rows(project, "SELECT user_id, total_events FROM user_summary"))
    assert rows == {user: want.total_events for user, want in expected.items()}
    daily = pg_rows(project, "SELECT sum(events), count(*) FROM daily_event_counts")
    assert daily[0][0] == DEMO_EVENTS
    assert (project / ".local" / "vault" / "credentials.vault").is_file()
    env_file = (project / ".local" / "services.env").read_text()
    assert "PASSWORD" not in env_file
    assert read_local_stack(project)["SPARK_ETL_PG_PASSWORD"] not in env_file

    # kedro package, then spark-submit of batch_s3_pg (on the demo's events) to the project's own
    # standalone cluster
    make(project, wheel, "spark", "package")
    packages = (project / "dist" / "packages.txt").read_text().strip()
    assert packages.startswith("org.apache.spark:spark-sql-kafka") and "\n" not in packages
    before = completed_apps()
    with connect_postgres(read_local_stack(project)) as conn:
        conn.execute("DROP TABLE user_summary")
    python = str(venv / "bin" / "python")
    run(
        [
            str(venv / "bin" / "spark-submit"),
            "--master",
            f"spark://127.0.0.1:{PORTS['SPARK_ETL_SPARK_MASTER_PORT']}",
            "--jars",  # as the README has it locally: the jars `make jars` resolved
            run([str(venv / "bin" / "spark-etl"), "jars", "classpath"], project, env=own_env())
            .strip()
            .replace(":", ","),
            "--conf",
            "spark.executor.memory=1g",
            "--conf",
            "spark.cores.max=2",
            "--py-files",
            str(project / "dist" / "acme_orders-0.1.0-py3-none-any.whl"),
            str(project / "dist" / "acme_orders_entry.py"),
            "--pipelines",
            "batch_s3_pg",
            "--conf-source",
            str(project / "dist" / "conf-acme_orders.tar.gz"),
        ],
        project,
        env=own_env(PYSPARK_PYTHON=python, PYSPARK_DRIVER_PYTHON=python),
    )
    assert completed_apps() == before + 1  # it ran on the cluster, not a local master
    rows = dict(pg_rows(project, "SELECT user_id, total_events FROM user_summary"))
    assert rows == {user: want.total_events for user, want in expected.items()}

    # its own tests and lint, as its CI runs them (they put events of their own on S3)
    tests = run(["bash", ".ci/run"], project, env=own_env(PIP_FIND_LINKS=str(wheel.parent)))
    assert re.search(r"\b3 passed\b", tests) and "failed" not in tests  # its 2 node + 1 run tests
    assert "Contracts: 1 kept, 0 broken." in tests  # pipelines never import datasets


def completed_apps() -> int:
    port = PORTS["SPARK_ETL_SPARK_UI_PORT"]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/", timeout=10) as page:
        return len(json.load(page).get("completedapps", []))
