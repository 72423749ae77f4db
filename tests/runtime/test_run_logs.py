"""The run's own log file, its retention, and the console's format."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest

from spark_etl.runtime import logs
from spark_etl.runtime.context import RunContext


def test_the_file_is_named_by_env_folder_or_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(logs.RUN_LOG_ENV, raising=False)
    monkeypatch.delenv(logs.LOG_DIR_ENV, raising=False)
    assert logs.run_log_path(None) is None
    in_project = logs.run_log_path(tmp_path)
    assert in_project is not None and in_project.parent == tmp_path / "logs"
    assert in_project.suffix == ".jsonl"
    monkeypatch.setenv(logs.LOG_DIR_ENV, str(tmp_path / "elsewhere"))
    assert logs.run_log_path(tmp_path).parent == tmp_path / "elsewhere"  # type: ignore[union-attr]
    monkeypatch.setenv(logs.RUN_LOG_ENV, str(tmp_path / "this.jsonl"))
    assert logs.run_log_path(tmp_path) == tmp_path / "this.jsonl"
    assert logs.jvm_log_path() == tmp_path / "this.spark.log"


def test_old_run_logs_are_removed_with_their_spark_output(tmp_path: Path) -> None:
    for i in range(5):
        (tmp_path / f"2026120{i}T000000Z-1.jsonl").write_text("{}")
        (tmp_path / f"2026120{i}T000000Z-1.spark.log").write_text("jvm")
    current = tmp_path / "20261209T000000Z-1.jsonl"
    gone = logs.prune_run_logs(tmp_path, keep=3, current=current)
    assert sorted(p.name for p in gone) == [
        "20261200T000000Z-1.jsonl",
        "20261200T000000Z-1.spark.log",
        "20261201T000000Z-1.jsonl",
        "20261201T000000Z-1.spark.log",
        "20261202T000000Z-1.jsonl",
        "20261202T000000Z-1.spark.log",
    ]
    assert sorted(p.name for p in tmp_path.glob("*.jsonl")) == [
        "20261203T000000Z-1.jsonl",
        "20261204T000000Z-1.jsonl",
    ]  # with the run that starts now: 3


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_every_record_goes_to_the_run_file_as_json_and_the_console_in_words_on_a_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(logs.RUN_LOG_ENV, str(tmp_path / "run.jsonl"))
    monkeypatch.delenv(logs.FORMAT_ENV, raising=False)
    root = logging.Logger("test-root")
    terminal, pipe = _Terminal(), io.StringIO()
    for stream in (terminal, pipe):
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        root.addHandler(handler)
    run = RunContext()
    run.start("batch_s3_pg", "r1")
    path = logs.install(run, root, project_path=tmp_path)
    assert path == tmp_path / "run.jsonl"
    root.warning("password=hunter22 saved %d rows", 3, extra={"event": "dataset_saved"})
    for handler in root.handlers:
        handler.flush()
    (record,) = [json.loads(line) for line in path.read_text().splitlines()]
    assert record["message"] == "password=*** saved 3 rows" and record["event"] == "dataset_saved"
    assert record["pipeline"] == "batch_s3_pg" and record["run_id"] == "r1"
    assert terminal.getvalue() == "WARNING password=*** saved 3 rows\n"  # words on a terminal
    assert json.loads(pipe.getvalue())["event"] == "dataset_saved"  # JSON elsewhere
    assert logs.install(run, root, project_path=tmp_path) == path  # one file handler per run
    assert sum(isinstance(h, logs.RunLogFileHandler) for h in root.handlers) == 1
    for handler in root.handlers:
        handler.close()
