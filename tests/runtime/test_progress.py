"""The terminal's progress line: drawn only for jobs that last, cleared before each log record,
never off a terminal."""

from __future__ import annotations

import io
import logging
from typing import Any

import pytest
from pyspark.sql import SparkSession

from spark_etl.runtime import progress
from spark_etl.runtime.progress import (
    ClearsProgress,
    ProgressLine,
    ProgressReporter,
    stage_text,
)

STAGES = [{"id": 3, "tasks": 8, "done": 2, "running": 2}]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_short_job_draws_nothing_a_long_one_its_stage_and_tasks() -> None:
    out, clock = io.StringIO(), Clock()
    reporter = ProgressReporter(ProgressLine(out), node=lambda: "summarise", clock=clock)
    reporter.tick(STAGES)
    clock.now = progress.SHOW_AFTER_S - 0.1
    reporter.tick(STAGES)
    assert out.getvalue() == ""
    clock.now = progress.SHOW_AFTER_S
    reporter.tick(STAGES)
    assert out.getvalue() == "\r\x1b[K" + stage_text("summarise", STAGES)
    reporter.tick([])  # the job ended: the line goes
    assert out.getvalue().endswith("\r\x1b[K")


def test_the_line_says_node_stage_and_tasks() -> None:
    assert stage_text("summarise", STAGES) == (
        "summarise: stage 3 [======                  ] 2/8 tasks (2 running)"
    )
    assert stage_text(None, [{"id": 1, "tasks": 0, "done": 0, "running": 0}]).startswith(
        "stage 1 ["
    )


def test_a_log_record_clears_the_line_first() -> None:
    out, logged = io.StringIO(), io.StringIO()
    line = ProgressLine(out)
    handler = logging.StreamHandler(logged)
    handler.addFilter(ClearsProgress(line))
    log = logging.getLogger("test_progress")
    log.addHandler(handler)
    try:
        line.draw("stage 1 [==   ] 1/4 tasks")
        log.warning("a message")
    finally:
        log.removeHandler(handler)
    assert out.getvalue() == "\r\x1b[Kstage 1 [==   ] 1/4 tasks\r\x1b[K"
    assert logged.getvalue() == "a message\n"


def test_no_progress_off_a_terminal_or_when_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stderr", io.StringIO())  # not a terminal (CI, a pipe)
    assert progress.terminal_progress(logging.getLogger("test_progress")) is None

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stderr", Terminal())
    root = logging.getLogger("test_progress_root")
    console = logging.StreamHandler(io.StringIO())
    root.addHandler(console)
    try:
        assert progress.terminal_progress(root) is not None
        assert progress.terminal_progress(root) is not None  # once more: still one filter
        assert sum(isinstance(f, ClearsProgress) for f in console.filters) == 1
        monkeypatch.setenv(progress.PROGRESS_ENV, "0")
        assert progress.terminal_progress(root) is None
    finally:
        root.removeHandler(console)


def test_the_reporter_reads_the_stages_spark_runs(spark: SparkSession) -> None:
    seen: list[list[dict[str, Any]]] = []

    class Recording(ProgressReporter):
        def tick(self, stages: list[dict[str, Any]]) -> None:
            if stages:
                seen.append(stages)

    reporter = Recording(ProgressLine(io.StringIO()), node=lambda: None)
    reporter.start()
    try:  # tasks that sleep: the job lasts several ticks however fast the machine is
        spark.range(0, 4, 1, 4).selectExpr(
            "reflect('java.lang.Thread', 'sleep', cast(1500 as bigint))"
        ).collect()
    finally:
        reporter.stop()
    assert seen, "no tick saw the running stage"
    assert {"id", "tasks", "done", "running"} == set(seen[0][0])
    assert seen[0][0]["tasks"] == 4
