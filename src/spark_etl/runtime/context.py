"""What the current run is: pipeline, run id and node, for log events and the runtime's parts.

Hooks set these as the run goes; a logging filter copies them onto every record, so that every
structured event carries ``pipeline``, ``run_id`` and ``node``. They are process wide: callbacks of
Spark listeners run on other threads, and Kedro may run a node's hooks on a worker thread. With a
parallel runner, ``node`` names the node that started last.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass


@dataclass
class _Run:
    pipeline: str | None = None
    run_id: str | None = None
    node: str | None = None


_run = _Run()


def start_run(pipeline: str, run_id: str) -> None:
    """Record the run that starts."""
    _run.pipeline, _run.run_id = pipeline, run_id


def end_run() -> None:
    """Forget the run that ended."""
    _run.pipeline = _run.run_id = None
    set_node(None)


def set_node(name: str | None) -> None:
    """Record the node that runs now."""
    _run.node = name


def current() -> dict[str, str | None]:
    """``pipeline``, ``run_id`` and ``node`` of what runs now."""
    return {"pipeline": _run.pipeline, "run_id": _run.run_id, "node": _run.node}


class RunContextFilter(logging.Filter):
    """Adds ``pipeline``, ``run_id`` and ``node`` to every record that lacks them."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Always keeps the record."""
        for name, value in current().items():
            if getattr(record, name, None) is None:
                setattr(record, name, value)
        return True
