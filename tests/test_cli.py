"""The project command line: ``spark-etl jars`` and ``python -m spark_etl``."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from spark_etl import __main__ as entry
from spark_etl.cli import cli
from spark_etl.runtime import jars


def test_jars_packages_prints_the_coordinates() -> None:
    result = CliRunner().invoke(cli, ["jars", "packages"])
    assert result.exit_code == 0
    assert result.output.strip() == jars.packages()


def test_jars_rejects_unknown_action() -> None:
    result = CliRunner().invoke(cli, ["jars", "fetch"])
    assert result.exit_code == 2
    assert "'fetch' is not one of 'resolve', 'packages', 'classpath'" in result.output


def test_module_entry_point_is_kedro_run(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        entry.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "--pipeline" in out and "Run the pipeline" in out
