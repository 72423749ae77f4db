"""The example project and the starter cannot drift: ``kedro new`` with the example's names gives
files that ``example/`` holds unchanged (the example adds files of its own, never edits these)."""

from __future__ import annotations

import json
from pathlib import Path

import spark_etl
from starter import EXAMPLE_CONFIG, STARTER, differences, generated_files, kedro_new


def test_the_example_holds_every_generated_file_unchanged(tmp_path: Path) -> None:
    generated = kedro_new(tmp_path, EXAMPLE_CONFIG)
    assert len(generated_files(generated)) >= 30
    assert differences(generated) == [], (
        "example/ differs from the starter's output: run `.venv/bin/python "
        "tests/support/starter.py` to bring it up to date (then commit both)."
    )


def test_the_starter_s_alias_is_the_same_starter(tmp_path: Path) -> None:
    """``kedro new --starter spark-etl`` (the kedro.starters entry point) gives the same project."""
    by_path = kedro_new(tmp_path / "path", EXAMPLE_CONFIG)
    by_alias = kedro_new(tmp_path / "alias", EXAMPLE_CONFIG, starter="spark-etl")
    assert generated_files(by_alias) == generated_files(by_path)
    assert differences(by_alias, example=by_path) == []


def test_new_projects_depend_on_this_version_of_spark_etl() -> None:
    settings = json.loads((STARTER / "cookiecutter.json").read_text())
    assert settings["spark_etl_version"] == spark_etl.__version__  # the distribution's too
