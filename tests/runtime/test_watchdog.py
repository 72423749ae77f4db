"""Timeouts of nodes and pipelines, on real Kedro pipelines run by the RetryingRunner, with Spark
jobs of the suite's session (their tasks sleep in the JVM, so they last however fast the
machine): cancelled by their node's tag, a Python node interrupted, retried or not by config."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from kedro.framework.hooks.manager import _create_hook_manager
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import node, pipeline
from pyspark.sql import SparkSession

from spark_etl.exceptions import ConfigError
from spark_etl.runtime import watchdog
from spark_etl.runtime.classify import classify
from spark_etl.runtime.context import RunContext
from spark_etl.runtime.retry import parse_retry_settings
from spark_etl.runtime.runner import RetryingRunner
from spark_etl.runtime.timeouts import (
    FinalTimeoutError,
    RetriedTimeoutError,
    RunTimeoutError,
    length_text,
    parse_timeout_settings,
)


class Owner:
    """Stands in for the run hook: the runner finds the run's context on it."""

    def __init__(self, timeouts: dict[str, Any], retry: dict[str, Any] | None = None) -> None:
        self.run_context = RunContext(
            timeouts=parse_timeout_settings(timeouts),
            retry=parse_retry_settings(retry or {"default": {"retries": 0}}),
        )
        self.run_context.start("p", "run-1")


def run(owner: Owner, *nodes: Any, slept: list[float] | None = None) -> float:
    """Run ``nodes`` as pipeline ``p``; the seconds it took."""
    manager = _create_hook_manager()
    manager.register(owner)
    started = time.monotonic()
    try:
        RetryingRunner(sleep=(slept if slept is not None else []).append).run(
            pipeline(list(nodes)), DataCatalog({"start": MemoryDataset(1)}), manager
        )
    finally:
        elapsed = time.monotonic() - started
    return elapsed


def sleeping_job(spark: SparkSession, ms: int) -> Any:
    """A node function whose Spark job's tasks sleep ``ms`` in the JVM."""

    def summarise(value: int) -> int:
        spark.range(0, 2, 1, 2).selectExpr(
            f"reflect('java.lang.Thread', 'sleep', cast({ms} as bigint)) AS slept"
        ).collect()
        return value

    return summarise


def test_a_node_past_its_time_has_its_spark_job_cancelled(
    spark: SparkSession, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(watchdog, "INTERRUPT_AFTER_S", 600.0)  # only the cancellation can end it
    owner = Owner({"pipelines": {"p": {"nodes": {"summarise": "1s"}, "on_timeout": "terminal"}}})
    started = time.monotonic()
    with caplog.at_level(logging.WARNING), pytest.raises(FinalTimeoutError) as raised:
        run(owner, node(sleeping_job(spark, 60_000), "start", "out", name="summarise"))
    assert time.monotonic() - started < 30  # the tasks' minute of sleep was interrupted
    assert str(raised.value).startswith(
        "Node 'summarise' of pipeline 'p' ran past its timeout of 1 s "
        "(timeouts.pipelines.p.nodes.summarise in conf/<env>/runtime.yml): its Spark jobs were "
        "cancelled (on_timeout: terminal: not retried)."
    )
    assert classify(raised.value) == "terminal"
    assert "cancelled part of cancelled job tags spark-etl-node-" in str(raised.value.__cause__)
    (warned,) = [r for r in caplog.records if getattr(r, "event", None) == "timeout"]
    assert warned.getMessage() == (
        "Node 'summarise' ran past its timeout of 1 s (timeouts.pipelines.p.nodes.summarise): "
        "cancelling its Spark jobs"
    )
    assert spark.sparkContext.statusTracker().getActiveJobsIds() == []
    assert set(spark.sparkContext.getJobTags()) == set()  # the thread's tag went with the node


def test_a_transient_timeout_is_retried_with_its_own_time(spark: SparkSession) -> None:
    calls: list[float] = []

    def slow_then_quick(value: int) -> int:
        calls.append(time.monotonic())
        ms = 60_000 if len(calls) == 1 else 10
        return int(sleeping_job(spark, ms)(value))

    owner = Owner(
        {"default": {"node": 2}},  # seconds; on_timeout: transient is the default
        retry={"default": {"retries": 2, "delay": 0}},
    )
    slept: list[float] = []
    elapsed = run(owner, node(slow_then_quick, "start", "out", name="summarise"), slept=slept)
    assert len(calls) == 2 and slept == [0.0]  # the second attempt finished within its time
    assert elapsed < 30


def test_the_transient_kind_is_what_the_retry_policy_reads() -> None:
    assert classify(RetriedTimeoutError("late")) == "transient"
    assert classify(FinalTimeoutError("late")) == "terminal"
    assert issubclass(RetriedTimeoutError, RunTimeoutError)


def test_a_python_node_past_its_time_is_interrupted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watchdog, "INTERRUPT_AFTER_S", 0.5)

    def waits(value: int) -> int:
        time.sleep(60)  # a blocking call in the main thread: woken by the watchdog's signal
        return value

    owner = Owner({"default": {"node": 1, "on_timeout": "terminal"}})
    started = time.monotonic()
    with pytest.raises(FinalTimeoutError, match=r"^Node 'waits' of pipeline 'p' ran past") as got:
        run(owner, node(waits, "start", "out", name="waits"))
    assert time.monotonic() - started < 10
    assert isinstance(got.value.__cause__, watchdog.NodeInterrupted)


def test_a_pipeline_past_its_time_stops_at_the_node_that_runs(spark: SparkSession) -> None:
    ran: list[str] = []

    def step(name: str, ms: int) -> Any:
        def run_step(value: int) -> int:
            ran.append(name)
            return int(sleeping_job(spark, ms)(value))

        return run_step

    owner = Owner(
        {"pipelines": {"p": {"pipeline": "3 seconds"}}},
        retry={"default": {"retries": 3, "delay": 0}},  # a pipeline past its time is not retried
    )
    with pytest.raises(FinalTimeoutError) as raised:
        run(
            owner,
            node(step("first", 10), "start", "a", name="first"),
            node(step("second", 60_000), "a", "b", name="second"),  # the deadline falls here
            node(step("third", 10), "b", "c", name="third"),
        )
    assert ran == ["first", "second"]
    assert str(raised.value).startswith(
        "Pipeline 'p' ran past its timeout of 3 s (timeouts.pipelines.p.pipeline in "
        "conf/<env>/runtime.yml) while node 'second' ran: the run stops"
    )


def test_nodes_within_their_time_run_untouched(spark: SparkSession) -> None:
    owner = Owner({"default": {"node": "1m", "pipeline": "1h"}})
    run(owner, node(sleeping_job(spark, 10), "start", "out", name="quick"))
    assert set(spark.sparkContext.getJobTags()) == set()


def test_a_limit_for_a_node_the_run_lacks_is_named(caplog: pytest.LogCaptureFixture) -> None:
    owner = Owner({"pipelines": {"p": {"nodes": {"sumarise": "10m"}}}})
    with caplog.at_level(logging.WARNING):
        run(owner, node(lambda v: v, "start", "out", name="summarise"))
    assert (
        "timeouts.pipelines.p.nodes.sumarise gives a timeout to node 'sumarise', which this run "
        "does not have. Did you mean 'summarise'?"
    ) in caplog.text


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (
            {"default": {"node": "soon"}},
            (
                r"timeouts\.default\.node: not a duration: write a number and s, m, h or d .*"
                r"\(the value is 'soon'\)"
            ),
        ),
        (
            {"pipelines": {"p": {"nodes": {"a": -5}}}},
            r"timeouts\.pipelines\.p\.nodes\.a: a timeout must be longer than 0 seconds",
        ),
        ({"default": {"on_timeout": "retry"}}, r"timeouts\.default\.on_timeout: Input should be"),
        ({"defaults": {}}, r"timeouts\.defaults: Extra inputs are not permitted"),
    ],
)
def test_invalid_timeouts_name_the_key(raw: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError, match=rf"^Invalid timeouts in runtime.yml: {problem}"):
        parse_timeout_settings(raw)


def test_limits_come_from_the_nearest_setting() -> None:
    settings = parse_timeout_settings(
        {
            "default": {"node": "2h", "nodes": {"load": "5m"}, "pipeline": "6h"},
            "pipelines": {
                "p": {"node": "30m", "nodes": {"summarise": 90}, "on_timeout": "terminal"}
            },
        }
    )
    said = {
        name: (limit.seconds, limit.setting)
        for name in ("summarise", "load", "other")
        if (limit := settings.node_limit("p", name)) is not None
    }
    assert said == {
        "summarise": (90.0, "timeouts.pipelines.p.nodes.summarise"),
        "load": (1800.0, "timeouts.pipelines.p.node"),  # the pipeline's own node limit wins
        "other": (1800.0, "timeouts.pipelines.p.node"),
    }
    assert settings.node_limit("q", "load").setting == "timeouts.default.nodes.load"  # type: ignore[union-attr]
    assert settings.pipeline_limit("p").setting == "timeouts.default.pipeline"  # type: ignore[union-attr]
    assert (settings.on_timeout("p"), settings.on_timeout("q")) == ("terminal", "transient")
    assert [length_text(s) for s in (1.5, 90, 3600, 5400, 3725)] == [
        "1.5 s",
        "1 min 30 s",
        "1 h",
        "1 h 30 min",
        "1 h 2 min 5 s",
    ]
