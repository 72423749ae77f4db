"""What the current run is (pipeline, run id, node) and how it runs (retries, timeouts, the
streaming limit).

:class:`~spark_etl.runtime.run_hooks.RunHooks` owns one :class:`RunContext` and keeps it up to
date as the run goes; it hands it to the log filter (every structured event carries
``pipeline``, ``run_id`` and ``node``) and the retrying runner finds it among the run's hooks (the
pipeline's retry policy, the streaming time limit). Callbacks of Spark listeners read it on other
threads; with a parallel runner, ``node`` names the node that started last.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spark_etl.runtime.retry import RetryPolicy, RetrySettings
from spark_etl.runtime.timeouts import TimeoutSettings


@dataclass
class RunContext:
    """The run that is going on, and the settings it runs with."""

    pipeline: str | None = None
    run_id: str | None = None
    node: str | None = None
    retry: RetrySettings = field(default_factory=RetrySettings)
    #: how long nodes and pipelines may run
    timeouts: TimeoutSettings = field(default_factory=TimeoutSettings)
    #: stop streaming queries after this many seconds (``None``: on their own or on a signal)
    max_duration_s: float | None = None
    #: the run's JSON log file, if it could be opened
    log_file: Path | None = None

    def start(self, pipeline: str, run_id: str) -> None:
        """Record the run that starts."""
        self.pipeline, self.run_id, self.node = pipeline, run_id, None

    def end(self) -> None:
        """Forget the run that ended."""
        self.pipeline = self.run_id = self.node = None

    def fields(self) -> dict[str, str | None]:
        """``pipeline``, ``run_id`` and ``node`` of what runs now."""
        return {"pipeline": self.pipeline, "run_id": self.run_id, "node": self.node}

    def retry_policy(self) -> RetryPolicy:
        """The retry policy of the pipeline that runs."""
        return self.retry.for_pipeline(self.pipeline)


def run_name(run_params: dict[str, Any]) -> str:
    """The pipelines a run was asked for, as one name (``a,b``; ``__default__`` for none)."""
    names = [n for n in run_params.get("pipeline_names") or [] if n] or ["__default__"]
    return ",".join(names)


def find_run_context(plugins: Iterable[object]) -> RunContext | None:
    """The run context of the hook among ``plugins`` that owns one (``RunHooks``), if any."""
    for plugin in plugins:
        found = getattr(plugin, "run_context", None)
        if isinstance(found, RunContext):
            return found
    return None


class RunContextFilter(logging.Filter):
    """Adds ``pipeline``, ``run_id`` and ``node`` of a run to every record that lacks them."""

    def __init__(self, run: RunContext) -> None:
        super().__init__()
        self.run = run

    def filter(self, record: logging.LogRecord) -> bool:
        """Always keeps the record."""
        for name, value in self.run.fields().items():
            if getattr(record, name, None) is None:
                setattr(record, name, value)
        return True
