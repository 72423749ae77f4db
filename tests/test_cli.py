"""The command line spark-etl adds to a project: ``kedro jars``, ``kedro services``, ``kedro run``
(through the plugin entry point), and a project's ``python -m <package>`` (the example's)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from spark_etl_example import __main__ as entry

from spark_etl.cli import DEFAULT_RUNNER, cli
from spark_etl.runtime import jars

REPO = Path(__file__).resolve().parents[1]
KEDRO = str(REPO / ".venv" / "bin" / "kedro")


def test_jars_packages_prints_the_coordinates() -> None:
    result = CliRunner().invoke(cli, ["jars", "packages"])
    assert result.exit_code == 0
    assert result.output.strip() == jars.packages()


def test_jars_excludes_prints_what_spark_submit_leaves_out() -> None:
    result = CliRunner().invoke(cli, ["jars", "excludes"])
    assert result.exit_code == 0
    assert result.output.strip() == jars.excludes()
    assert "org.apache.hadoop:hadoop-client-runtime" in result.output


def test_jars_rejects_unknown_action() -> None:
    result = CliRunner().invoke(cli, ["jars", "fetch"])
    assert result.exit_code == 2
    assert "'fetch' is not one of 'resolve', 'packages', 'excludes', 'classpath'" in result.output


def test_a_project_s_entry_point_is_spark_etl_s_retrying_run(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as info:
        entry.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "--pipelines" in out and "Run the pipeline" in out
    assert f"[default: {DEFAULT_RUNNER}]" in " ".join(out.split())


def test_the_plugin_s_commands_are_in_a_project_s_kedro_command_line() -> None:
    """The kedro.project_commands entry point: a project without a cli.py of its own gets them."""
    done = subprocess.run(
        [KEDRO, "--help"], cwd=REPO / "example", capture_output=True, text=True, check=True
    )
    commands = {line.split()[0] for line in done.stdout.splitlines() if line.startswith("  ")}
    assert {"run", "jars", "vault", "services"} <= commands
    run_help = subprocess.run(
        [KEDRO, "run", "--help"], cwd=REPO / "example", capture_output=True, text=True, check=True
    )
    assert DEFAULT_RUNNER in run_help.stdout
