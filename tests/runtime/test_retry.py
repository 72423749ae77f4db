"""Retry settings and the RetryingRunner on real Kedro pipelines (waits injected: no sleeping)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from kedro.framework.hooks.manager import _create_hook_manager
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import node, pipeline
from kedro_datasets.pickle import PickleDataset

from spark_etl.exceptions import ConfigError, SourceUnavailableError
from spark_etl.runtime.retry import RetryPolicy, parse_retry_settings
from spark_etl.runtime.run_hooks import RunHooks
from spark_etl.runtime.runner import RetryingRunner


class Flaky:
    """A node function failing ``failures`` times with ``error``, counting its calls."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures, self.error, self.calls = failures, error, 0

    def __call__(self, value: int) -> int:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return value + 1


class Counted:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, value: int) -> int:
        self.calls += 1
        return value * 10


def run(pipe: Any, catalog: DataCatalog, policy: RetryPolicy | None = None) -> list[float]:
    slept: list[float] = []
    RetryingRunner(policy=policy or RetryPolicy(), sleep=slept.append).run(
        pipe, catalog, _create_hook_manager()
    )
    return slept


def test_defaults_are_three_retries_five_seconds_apart() -> None:
    policy = parse_retry_settings(None).for_pipeline("anything")
    assert (policy.retries, policy.attempts, policy.delay, policy.backoff) == (3, 4, 5.0, "fixed")


def test_pipeline_overrides_merge_over_the_default() -> None:
    settings = parse_retry_settings(
        {"default": {"retries": 2, "delay": 1}, "pipelines": {"p": {"backoff": "exponential"}}}
    )
    assert settings.for_pipeline("p") == RetryPolicy(retries=2, delay=1, backoff="exponential")
    assert settings.for_pipeline("q") == RetryPolicy(retries=2, delay=1)


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (
            {"default": {"retries": -1}},
            (
                r"retry\.default\.retries: Input should be greater than or equal to 0 "
                r"\(the value is -1\)"
            ),
        ),
        (
            {"default": {"backof": "fixed"}},
            r"retry\.default\.backof: Extra inputs are not permitted \(the value is 'fixed'\)",
        ),
        (
            {"pipelines": {"p": {"delay": "soon"}}},
            r"retry\.pipelines\.p\.delay: Input should be a valid number.* \(the value is 'soon'\)",
        ),
        ({"defaults": {}}, r"retry\.defaults: Extra inputs"),
    ],
)
def test_invalid_settings_name_the_key(raw: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError, match=r"Invalid retry settings in runtime\.yml: .*" + problem):
        parse_retry_settings(raw)


def test_exponential_backoff_with_cap() -> None:
    flaky = Flaky(4, SourceUnavailableError("db down"))
    catalog = DataCatalog({"a": MemoryDataset(1)})
    policy = RetryPolicy(retries=4, delay=2, backoff="exponential", max_delay=10)
    slept = run(pipeline([node(flaky, "a", "b", name="load")]), catalog, policy)
    assert slept == [2, 4, 8, 10]
    assert catalog.load("b") == 2


def test_transient_failures_are_retried_then_succeed(caplog: pytest.LogCaptureFixture) -> None:
    flaky = Flaky(2, SourceUnavailableError("PostgreSQL at x is not reachable"))
    catalog = DataCatalog({"a": MemoryDataset(1)})
    with caplog.at_level(logging.WARNING):
        slept = run(pipeline([node(flaky, "a", "b", name="load")]), catalog)
    assert flaky.calls == 3 and slept == [5.0, 5.0]
    retries = [r for r in caplog.records if getattr(r, "event", "") == "retry"]
    assert [(r.attempt, r.attempts, r.delay_s) for r in retries] == [(1, 4, 5.0), (2, 4, 5.0)]  # type: ignore[attr-defined]
    assert (
        "Attempt 1 of 4 failed with a transient error: PostgreSQL at x" in retries[0].getMessage()
    )


def test_exhausted_retries_raise_after_four_attempts(caplog: pytest.LogCaptureFixture) -> None:
    flaky = Flaky(10, SourceUnavailableError("down"))
    slept: list[float] = []
    runner = RetryingRunner(sleep=slept.append, policy=RetryPolicy())
    with caplog.at_level(logging.ERROR), pytest.raises(SourceUnavailableError):
        runner.run(
            pipeline([node(flaky, "a", "b", name="load")]),
            DataCatalog({"a": MemoryDataset(1)}),
            _create_hook_manager(),
        )
    assert flaky.calls == 4 and slept == [5.0, 5.0, 5.0]
    final = [r for r in caplog.records if getattr(r, "event", "") == "attempt_failed"]
    assert (
        final[0]
        .getMessage()
        .startswith("Attempt 4 of 4 failed with a transient error (retries exhausted)")
    )


def test_terminal_errors_are_not_retried() -> None:
    flaky = Flaky(1, ConfigError("bad catalog entry"))
    with pytest.raises(ConfigError):
        run(pipeline([node(flaky, "a", "b", name="load")]), DataCatalog({"a": MemoryDataset(1)}))
    assert flaky.calls == 1


def test_retry_resumes_after_persisted_outputs(tmp_path: Path) -> None:
    first, flaky = Counted(), Flaky(1, SourceUnavailableError("down"))
    catalog = DataCatalog(
        {"a": MemoryDataset(1), "b": PickleDataset(filepath=str(tmp_path / "b.pkl"))}
    )
    pipe = pipeline([node(first, "a", "b", name="extract"), node(flaky, "b", "c", name="load")])
    run(pipe, catalog)
    assert first.calls == 1 and flaky.calls == 2  # b was persisted: extract is not redone
    assert catalog.load("c") == 11


def test_retry_reruns_producers_of_lost_memory_outputs() -> None:
    first, flaky = Counted(), Flaky(1, SourceUnavailableError("down"))
    catalog = DataCatalog({"a": MemoryDataset(1)})
    pipe = pipeline([node(first, "a", "b", name="extract"), node(flaky, "b", "c", name="load")])
    run(pipe, catalog)
    assert first.calls == 2 and flaky.calls == 2  # b lived in memory only: extract runs again


def test_policy_comes_from_the_run_hook_s_context() -> None:
    """The runner finds RunHooks among the run's hooks and takes the pipeline's policy from it."""
    hooks = RunHooks()
    hooks.run_context.retry = parse_retry_settings(
        {"default": {"retries": 3, "delay": 9}, "pipelines": {"p": {"retries": 1, "delay": 0.5}}}
    )
    hooks.run_context.start("p", "run-1")
    manager = _create_hook_manager()
    manager.register(hooks)
    flaky = Flaky(5, SourceUnavailableError("down"))
    slept: list[float] = []
    with pytest.raises(SourceUnavailableError):
        RetryingRunner(sleep=slept.append).run(
            pipeline([node(flaky, "a", "b", name="load")]),
            DataCatalog({"a": MemoryDataset(1)}),
            manager,
        )
    assert flaky.calls == 2 and slept == [0.5]  # pipeline p's policy, not the default


def test_without_the_run_hook_the_default_policy_applies() -> None:
    flaky = Flaky(5, SourceUnavailableError("down"))
    slept: list[float] = []
    with pytest.raises(SourceUnavailableError):
        RetryingRunner(sleep=slept.append).run(
            pipeline([node(flaky, "a", "b", name="load")]),
            DataCatalog({"a": MemoryDataset(1)}),
            _create_hook_manager(),
        )
    assert flaky.calls == 4 and slept == [5.0, 5.0, 5.0]  # 3 retries, 5 s apart
