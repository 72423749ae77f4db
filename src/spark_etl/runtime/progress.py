"""A progress line for long Spark jobs, on a terminal only.

While a run goes on, a thread asks Spark's status tracker for the active stages every half
second; once a job has run for :data:`SHOW_AFTER_S` seconds, one line at the bottom of the
console shows the node, the stage and its tasks done. Each log record first clears the line
(the console handler's :class:`ClearsProgress` filter), so messages never mix with it; it is
drawn again at the next tick, and cleared for good when the run ends. Off the terminal (a
cluster, CI, a pipe) and with ``SPARK_ETL_PROGRESS=0`` nothing is drawn: the JSON log is all.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

from spark_etl._jvm import current_session

PROGRESS_ENV = "SPARK_ETL_PROGRESS"
#: A job shorter than this shows no progress (most jobs of a small run).
SHOW_AFTER_S = 2.0
_TICK_S = 0.5
_BAR = 24


class ProgressLine:
    """The one line of progress at the bottom of a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._drawn = False

    def draw(self, text: str) -> None:
        """Show ``text`` in place of what the line showed."""
        with self._lock:
            self._stream.write("\r\x1b[K" + text)
            self._stream.flush()
            self._drawn = True

    def clear(self) -> None:
        """Remove the line, if drawn."""
        with self._lock:
            if self._drawn:
                self._stream.write("\r\x1b[K")
                self._stream.flush()
                self._drawn = False


class ClearsProgress(logging.Filter):
    """A console handler's filter: clears the progress line before the record is written."""

    def __init__(self, line: ProgressLine) -> None:
        super().__init__()
        self.line = line

    def filter(self, record: logging.LogRecord) -> bool:
        self.line.clear()
        return True


def stage_text(node: str | None, stages: list[dict[str, Any]]) -> str:
    """The progress line for the active ``stages`` (``id``, ``tasks``, ``done``, ``running``)."""
    tasks = sum(s["tasks"] for s in stages)
    done = sum(s["done"] for s in stages)
    running = sum(s["running"] for s in stages)
    filled = int(_BAR * done / tasks) if tasks else 0
    ids = ", ".join(str(s["id"]) for s in stages)
    where = f"{node}: " if node else ""
    return (
        f"{where}stage {ids} [{'=' * filled}{' ' * (_BAR - filled)}] "
        f"{done}/{tasks} tasks ({running} running)"
    )


class ProgressReporter:
    """Draws the progress of the session's active stages while a run goes on."""

    def __init__(
        self,
        line: ProgressLine,
        node: Callable[[], str | None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._line = line
        self._node = node
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._busy_since: float | None = None

    def start(self) -> None:
        """Start watching (once)."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._watch, name="spark-etl-progress", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop watching and clear the line."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        self._line.clear()

    def tick(self, stages: list[dict[str, Any]]) -> None:
        """Draw (or clear) the line for what Spark is running now."""
        if not stages:
            self._busy_since = None
            self._line.clear()
            return
        now = self._clock()
        if self._busy_since is None:
            self._busy_since = now
        if now - self._busy_since >= SHOW_AFTER_S:
            self._line.draw(stage_text(self._node(), stages))

    def _watch(self) -> None:
        while not self._stop.wait(_TICK_S):
            try:
                self.tick(_active_stages())
            except Exception:  # a session that stops under us ends the watching, not the run
                return


def _active_stages() -> list[dict[str, Any]]:
    spark = current_session()
    if spark is None:
        return []
    tracker = spark.sparkContext.statusTracker()
    stages = []
    for stage_id in tracker.getActiveStageIds():
        info = tracker.getStageInfo(stage_id)
        if info is not None:
            stages.append(
                {
                    "id": stage_id,
                    "tasks": info.numTasks,
                    "done": info.numCompletedTasks,
                    "running": info.numActiveTasks,
                }
            )
    return stages


def terminal_progress(
    root: logging.Logger | None = None, node: Callable[[], str | None] = lambda: None
) -> ProgressReporter | None:
    """A reporter drawing on the console's terminal, its filter on the console handlers; ``None``
    when the console is not a terminal or ``SPARK_ETL_PROGRESS=0``."""
    if os.environ.get(PROGRESS_ENV, "1") == "0":
        return None
    stream = sys.stderr
    if not (hasattr(stream, "isatty") and stream.isatty()):
        return None
    line = ProgressLine(stream)
    for handler in (root or logging.getLogger()).handlers:
        if type(handler) is logging.StreamHandler:
            handler.filters = [f for f in handler.filters if not isinstance(f, ClearsProgress)]
            handler.addFilter(ClearsProgress(line))
    return ProgressReporter(line, node)
