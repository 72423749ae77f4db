"""Enforces the timeouts of ``runtime.yml`` (:mod:`spark_etl.runtime.timeouts`) on a run.

The retrying runner registers a :class:`Watchdog` as a hook for the run. Each node runs with a
Spark job tag of its own, in the thread that runs it and in any thread that saves its outputs
(``kedro run --async``); a node's time runs until its last output is saved, since that is when
its lazy DataFrames run. Past the limit, the watchdog

1. cancels the Spark jobs with the node's tag (interrupting their tasks, so a task blocked on a
   socket ends too), and again every half second until the node ends (a job submitted after
   the first cancellation is cancelled too); the node's Spark call then fails, and the runner
   reports the timeout;
2. if the node still runs :data:`INTERRUPT_AFTER_S` seconds later in Python code of its own
   (not waiting on the JVM: interrupting a py4j call would break the thread's connection), raises
   :class:`NodeInterrupted` in its thread: in the main thread from the handler of a signal
   (SIGUSR2), which also ends a blocking system call (``time.sleep``, a socket read); in any
   other thread as an asynchronous exception, raised when it next runs Python code.

Tags rather than job groups: a tag adds to the jobs' tags, where a group would replace a group
the node's own code set. A pipeline's limit counts from the start of the run across attempts;
past it, the running node is cancelled the same way and no node starts again.
"""

from __future__ import annotations

import ctypes
import itertools
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING, Any

from kedro.framework.hooks import hook_impl

from spark_etl._jvm import current_session
from spark_etl._suggest import did_you_mean
from spark_etl.runtime.timeouts import (
    FinalTimeoutError,
    Limit,
    RetriedTimeoutError,
    RunTimeoutError,
    TimeoutSettings,
)

if TYPE_CHECKING:
    from kedro.pipeline import Pipeline
    from kedro.pipeline.node import Node
    from pyspark.sql import SparkSession

logger = logging.getLogger(__name__)

#: How long a node whose Spark jobs were cancelled may take to fail before it is interrupted.
INTERRUPT_AFTER_S = 10.0
#: The prefix of the job tags of nodes (``spark-etl-node-<n>``; a tag cannot hold a comma).
TAG_PREFIX = "spark-etl-node-"
#: How often the jobs of a node past its time are cancelled again, until it ends.
_RECANCEL_S = 0.5
#: Wakes the main thread from a blocking system call (SIGALRM is pytest-timeout's and alarm()'s).
_WAKE_SIGNAL = signal.SIGUSR2
_counter = itertools.count(1)


class NodeInterrupted(Exception):
    """Raised in a node's thread when it runs past its time in Python code of its own."""

    def __str__(self) -> str:  # raised by class, with no arguments to say it
        return "interrupted: the node ran past its timeout (runtime.yml's timeouts)"


@dataclass
class _Running:
    """A node that runs: where, with which tag, since when, which outputs are still unsaved."""

    node: Node
    thread: int
    tag: str
    unsaved: set[str]
    ran: bool = False
    timer: threading.Timer | None = None
    ended: threading.Event = field(default_factory=threading.Event)
    tagged_threads: set[int] = field(default_factory=set)


@dataclass(frozen=True)
class Expiry:
    """What ran past its time: a node, or the whole pipeline (``node`` the one that ran)."""

    kind: str
    limit: Limit
    node: str | None


class Watchdog:
    """A hook of one run that cancels what runs past the timeouts of its pipeline.

    Args:
        settings: the ``timeouts`` of ``runtime.yml``.
        pipeline: the name of the pipeline that runs.
        spark: the session whose jobs to cancel (default: the current one).
    """

    def __init__(
        self,
        settings: TimeoutSettings,
        pipeline: str | None,
        spark: Callable[[], SparkSession | None] = current_session,
    ) -> None:
        self._settings = settings
        self._pipeline = pipeline
        self._spark = spark
        self._lock = threading.Lock()
        self._running: dict[str, _Running] = {}
        self._expired: Expiry | None = None
        self._deadline: threading.Timer | None = None
        self._previous_handler: Any = None
        self._wake_installed = False
        self._interrupting: _Running | None = None

    # -- the run -------------------------------------------------------------------------------

    def start(self, pipeline: Pipeline) -> None:
        """The run starts: warn of limits for nodes it does not have; start the pipeline's clock."""
        names = {n.name for n in pipeline.nodes}
        for name, setting in self._settings.named_nodes(self._pipeline).items():
            if name not in names:
                logger.warning(
                    "%s gives a timeout to node '%s', which this run does not have.%s",
                    setting,
                    name,
                    did_you_mean(name, names),
                    extra={"event": "config_warning", "setting": setting},
                )
        if threading.current_thread() is threading.main_thread():
            self._previous_handler = signal.signal(_WAKE_SIGNAL, self._woken)
            self._wake_installed = True
        limit = self._settings.pipeline_limit(self._pipeline)
        if limit is not None:
            self._deadline = threading.Timer(limit.seconds, self._pipeline_expired, (limit,))
            self._deadline.daemon = True
            self._deadline.start()

    def streaming(self) -> None:
        """The run now waits on streaming queries: the pipeline's limit no longer counts (they
        run under ``streaming.max_duration_s``); nodes of a retried attempt keep theirs."""
        if self._deadline is not None:
            self._deadline.cancel()

    def stop(self) -> None:
        """The run ended."""
        self.streaming()
        with self._lock:
            running = list(self._running.values())
            self._running.clear()
        for record in running:
            self._forget(record)
        if self._wake_installed:
            signal.signal(_WAKE_SIGNAL, self._previous_handler)
            self._wake_installed = False

    def failed(self, exc: Exception) -> Exception:
        """The error a failed attempt raises: the timeout's, if one fired (and the failure is
        what it caused), else ``exc``. Nodes that ran are forgotten."""
        with self._lock:
            running = list(self._running.values())
            self._running.clear()
            expired = self._expired
            if expired is not None and expired.kind == "node":
                self._expired = None  # a retried attempt has its own time
        for record in running:
            self._forget(record)
        if expired is None:
            return exc
        return self._error(expired)

    # -- the hooks -----------------------------------------------------------------------------

    @hook_impl
    def before_node_run(self, node: Node) -> None:
        """Start the node's clock and tag its Spark jobs; past the pipeline's time, refuse."""
        with self._lock:
            expired = self._expired
        if expired is not None and expired.kind == "pipeline":
            raise self._error(Expiry("pipeline", expired.limit, node.name))
        limit = self._settings.node_limit(self._pipeline, node.name)
        if limit is None and self._deadline is None:
            return  # nothing to enforce: the node's jobs keep their own tags
        record = _Running(node, threading.get_ident(), f"{TAG_PREFIX}{next(_counter)}", set())
        record.unsaved = set(node.outputs)
        self._tag_this_thread(record)
        if limit is not None:
            record.timer = threading.Timer(limit.seconds, self._node_expired, (record, limit))
            record.timer.daemon = True
        with self._lock:
            self._running[node.name] = record
        if record.timer is not None:
            record.timer.start()

    @hook_impl
    def after_node_run(self, node: Node) -> None:
        """The node's function returned; its time runs on while its outputs are saved."""
        record = self._running.get(node.name)
        if record is not None:
            record.ran = True
            self._settle(record)

    @hook_impl
    def before_dataset_saved(self, dataset_name: str, node: Node) -> None:
        """A save may run in a thread of its own (``--async``): its jobs carry the tag too."""
        record = self._running.get(node.name)
        if record is not None:
            self._tag_this_thread(record)

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, node: Node) -> None:
        """One output saved; the last one stops the node's clock."""
        record = self._running.get(node.name)
        if record is not None:
            record.unsaved.discard(dataset_name)
            self._settle(record)

    @hook_impl
    def on_node_error(self, node: Node) -> None:
        """A failed node's clock stops (the runner asks :meth:`failed` what to report)."""
        with self._lock:
            record = self._running.pop(node.name, None)
        if record is not None:
            self._forget(record)

    # -- what the timers do --------------------------------------------------------------------

    def _node_expired(self, record: _Running, limit: Limit) -> None:
        with self._lock:
            if self._running.get(record.node.name) is not record or self._expired is not None:
                return
            self._expired = Expiry("node", limit, record.node.name)
        logger.warning(
            "Node '%s' ran past its timeout of %s (%s): cancelling its Spark jobs",
            record.node.name,
            limit.said(),
            limit.setting,
            extra={
                "event": "timeout",
                "scope": "node",
                "limit_s": limit.seconds,
                "setting": limit.setting,
            },
        )
        self._cancel(record)

    def _pipeline_expired(self, limit: Limit) -> None:
        with self._lock:
            running = list(self._running.values())
            node = running[0].node.name if running else None
            self._expired = Expiry("pipeline", limit, node)
        logger.warning(
            "Pipeline '%s' ran past its timeout of %s (%s)%s",
            self._pipeline,
            limit.said(),
            limit.setting,
            f": cancelling the Spark jobs of node '{node}'" if node else "",
            extra={
                "event": "timeout",
                "scope": "pipeline",
                "limit_s": limit.seconds,
                "setting": limit.setting,
            },
        )
        for record in running:
            self._cancel(record)

    def _cancel(self, record: _Running) -> None:
        """Cancel the node's jobs until it ends: a job it starts later (a slow first job of a
        session, code that catches the cancellation) is cancelled too."""
        thread = threading.Thread(
            target=self._keep_cancelling, args=(record,), name="spark-etl-timeout", daemon=True
        )
        thread.start()

    def _keep_cancelling(self, record: _Running) -> None:
        started = time.monotonic()
        interrupted = False
        while True:
            spark = self._spark()
            if spark is not None:
                try:
                    spark.sparkContext.cancelJobsWithTag(record.tag)
                except Exception:  # a session stopping under us: nothing left to cancel
                    logger.debug("cancelling jobs tagged %s failed", record.tag, exc_info=True)
            if not interrupted and time.monotonic() - started >= INTERRUPT_AFTER_S:
                interrupted = self._interrupt(record)
            if record.ended.wait(_RECANCEL_S):
                return

    def _interrupt(self, record: _Running) -> bool:
        """Raise :class:`NodeInterrupted` in the node's thread, unless it waits on the JVM (its
        Spark call fails once its jobs are cancelled). Whether it was raised."""
        with self._lock:
            if self._running.get(record.node.name) is not record:
                return True
            if _in_jvm_call(sys._current_frames().get(record.thread)):
                return False
            if record.thread == threading.main_thread().ident and self._wake_installed:
                # the handler raises: out of a blocking system call too (time.sleep, a read)
                self._interrupting = record
                signal.pthread_kill(record.thread, _WAKE_SIGNAL)
                return True
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(record.thread), ctypes.py_object(NodeInterrupted)
            )
        return True

    def _woken(self, signum: int, frame: FrameType | None) -> None:
        """The main thread's handler of the wake-up signal: raises the interruption of the node
        that still runs (a signal that is not the watchdog's does nothing)."""
        with self._lock:
            record, self._interrupting = self._interrupting, None
            still = record is not None and self._running.get(record.node.name) is record
        if still:
            raise NodeInterrupted

    # -- helpers -------------------------------------------------------------------------------

    def _settle(self, record: _Running) -> None:
        if record.ran and not record.unsaved:
            with self._lock:
                if self._running.get(record.node.name) is record:
                    del self._running[record.node.name]
            self._forget(record)

    def _tag_this_thread(self, record: _Running) -> None:
        spark = self._spark()
        if spark is None or threading.get_ident() in record.tagged_threads:
            return
        context = spark.sparkContext
        context.addJobTag(record.tag)
        context.setInterruptOnCancel(True)
        record.tagged_threads.add(threading.get_ident())

    def _forget(self, record: _Running) -> None:
        record.ended.set()
        if record.timer is not None:
            record.timer.cancel()
        spark = self._spark()
        if spark is not None and threading.get_ident() in record.tagged_threads:
            spark.sparkContext.removeJobTag(record.tag)
            spark.sparkContext.setInterruptOnCancel(False)

    def _error(self, expired: Expiry) -> RunTimeoutError:
        if expired.kind == "pipeline":
            where = f" while node '{expired.node}' ran" if expired.node else ""
            return FinalTimeoutError(
                f"Pipeline '{self._pipeline}' ran past its timeout of {expired.limit.said()} "
                f"({expired.limit.setting} in conf/<env>/runtime.yml){where}: the run stops, "
                "and its Spark jobs were cancelled."
            )
        kind = self._settings.on_timeout(self._pipeline)
        error = RetriedTimeoutError if kind == "transient" else FinalTimeoutError
        then = "retried as the retry policy says" if kind == "transient" else "not retried"
        return error(
            f"Node '{expired.node}' of pipeline '{self._pipeline}' ran past its timeout of "
            f"{expired.limit.said()} ({expired.limit.setting} in conf/<env>/runtime.yml): its "
            f"Spark jobs were cancelled (on_timeout: {kind}: {then})."
        )


def _in_jvm_call(frame: FrameType | None) -> bool:
    """Whether a thread's stack is inside py4j (a call into the JVM that has not returned)."""
    while frame is not None:
        if frame.f_globals.get("__name__", "").startswith("py4j."):
            return True
        frame = frame.f_back
    return False
