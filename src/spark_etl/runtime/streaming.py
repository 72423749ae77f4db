"""Streaming runs: wait for the queries a run started, stop them gracefully, log every batch.

A pipeline whose source is a stream ends its nodes with running queries (each streaming sink's
``save`` starts one). The runner then waits here until every query ends: by itself (an
``availableNow`` trigger: bounded runs and backfills), after ``max_duration_s``, or on SIGINT or
SIGTERM, after which each query finishes the micro-batch in flight and stops. A query that failed
re-raises its error, so the runner's retry restarts it from its checkpoint.

:class:`MetricsListener` logs one ``streaming_batch`` event per micro-batch: input rows, rates,
duration, end-to-end latency (now minus the newest event time) with p50/p95 over the last batches,
state rows, rows dropped as late by the watermark, and a ``streaming_lag`` warning when a batch
takes longer than the trigger interval.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import statistics
import threading
import time
from collections import deque
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pyspark.errors import StreamingQueryException
from pyspark.sql import SparkSession
from pyspark.sql.streaming import StreamingQueryListener

from spark_etl._durations import spark_interval
from spark_etl.datasets._streaming import start_unclaimed

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pyspark.sql.streaming import StreamingQuery

logger = logging.getLogger("spark_etl.metrics")

_POLL_S = 1
_WINDOW = 100


class _Stop:
    requested = threading.Event()  # a signal asked the queries to stop
    stopping = threading.Event()  # the run stops them (a signal, max_duration_s)


def stop_requested() -> bool:
    """Whether this run's streaming queries are asked to stop (what a paused write waits on)."""
    return _Stop.requested.is_set() or _Stop.stopping.is_set()


#: How long a streaming run may last, in seconds (``kedro run --max-duration`` sets it).
MAX_SECONDS_ENV = "SPARK_ETL_STREAMING_MAX_SECONDS"


def max_duration_s(raw: dict[str, Any] | None) -> float | None:
    """How long a streaming run may last, from the ``streaming`` section of ``runtime.yml``
    (``SPARK_ETL_STREAMING_MAX_SECONDS`` wins: bounded test runs and backfills); ``None``: until
    its queries end or a signal."""
    env = os.environ.get(MAX_SECONDS_ENV)
    value = env if env else (raw or {}).get("max_duration_s")
    return float(value) if value not in (None, "") else None


@contextmanager
def _stop_on_signals() -> Iterator[None]:
    """SIGINT/SIGTERM ask the queries to stop after their current micro-batch."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def request(signum: int, frame: Any) -> None:
        logger.warning(
            "Signal %s: stopping the streaming queries after their current batch",
            signum,
            extra={"event": "streaming_stop", "signal": signum},
        )
        _Stop.requested.set()

    for sig in previous:
        signal.signal(sig, request)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _Stop.requested.clear()


def await_queries(spark: SparkSession, max_duration_s: float | None = None) -> None:
    """Wait until every active query of ``spark`` has ended; raise the first one's failure."""
    start_unclaimed(spark)
    queries = list(spark.streams.active)
    if not queries:
        return
    deadline = time.monotonic() + max_duration_s if max_duration_s else None
    _say_how_it_stops(queries, max_duration_s)
    # A query of the session that failed before this run (a notebook's, an earlier run's) would
    # make awaitAnyTermination raise its error here: only this run's queries count.
    spark.streams.resetTerminated()
    with _stop_on_signals():
        while any(q.isActive for q in queries):
            if _Stop.requested.is_set() or (deadline and time.monotonic() >= deadline):
                stop_gracefully(queries)
                break
            with contextlib.suppress(StreamingQueryException):
                spark.streams.awaitAnyTermination(_POLL_S)  # raised below, if one of ours
            spark.streams.resetTerminated()
            _raise_failure(queries)
    _drain_listener_events(spark)
    _raise_failure(queries)


def _say_how_it_stops(queries: list[StreamingQuery], max_duration_s: float | None) -> None:
    """The run's start line for its streams: what runs, and how it ends."""
    names = ", ".join(q.name or str(q.id) for q in queries)
    if max_duration_s:
        until = f"stop after {max_duration_s:g} s (max duration), or on Ctrl-C or SIGTERM"
    else:
        until = (
            "run until Ctrl-C or SIGTERM (kedro run --max-duration 10m, or runtime.yml "
            "streaming.max_duration_s, bounds a run)"
        )
    logger.info(
        "Streaming: %d %s running (%s); %s, each after its micro-batch in flight",
        len(queries),
        "query" if len(queries) == 1 else "queries",
        names,
        until,
        extra={
            "event": "streaming_running",
            "queries": [q.name or str(q.id) for q in queries],
            "max_duration_s": max_duration_s,
        },
    )


def _drain_listener_events(spark: SparkSession, timeout_ms: int = 10_000) -> None:
    """Let the listener bus deliver the last progress events before the run reports its end."""
    try:
        spark.sparkContext._jsc.sc().listenerBus().waitUntilEmpty(timeout_ms)
    except Exception:  # a best effort: the metrics of the last batch may then come late
        logger.debug("Listener bus did not drain in %d ms", timeout_ms)


def stop_gracefully(queries: list[StreamingQuery], timeout_s: float = 120.0) -> None:
    """Let each query finish the micro-batch in flight, then stop it."""
    _Stop.stopping.set()
    try:
        _stop_each(queries, timeout_s)
    finally:
        _Stop.stopping.clear()


def _stop_each(queries: list[StreamingQuery], timeout_s: float) -> None:
    for query in queries:
        # A Real-Time Mode query is in its batch all the time: it has written what it read,
        # and reads again from its last checkpoint when it restarts (docs/streaming.md)
        deadline = time.monotonic() + (0 if _in_real_time(query) else timeout_s)
        while (
            query.isActive and query.status.get("isTriggerActive") and (time.monotonic() < deadline)
        ):
            time.sleep(0.1)
        if query.isActive:
            query.stop()
        logger.info(
            "Streaming query %s stopped",
            query.name or query.id,
            extra={"event": "streaming_stopped", "query": query.name or str(query.id)},
        )


def _in_real_time(query: StreamingQuery) -> bool:
    """Whether ``query`` runs in Spark's Real-Time Mode."""
    try:
        trigger = query._jsq.streamingQuery().trigger()
    except Exception:  # a query of Spark Connect, or one that is gone: not known, not stopped
        return False
    return "RealTime" in str(trigger.getClass().getSimpleName())


def _raise_failure(queries: list[StreamingQuery]) -> None:
    for query in queries:
        error = query.exception()
        if error is not None:
            raise error


def trigger_seconds(trigger: dict[str, Any] | None) -> float | None:
    """The interval of a ``processingTime`` trigger, in seconds."""
    text = str((trigger or {}).get("processingTime", ""))
    try:
        return spark_interval(text).total_seconds()
    except ValueError:
        return None


class MetricsListener(StreamingQueryListener):
    """Logs one structured event per micro-batch of every query."""

    def __init__(self, trigger_interval_s: float | None = None) -> None:
        self._latencies: dict[str, deque[float]] = {}
        self._interval = trigger_interval_s

    def onQueryStarted(self, event: Any) -> None:
        """Log ``streaming_start``."""
        logger.info(
            "Streaming query %s started",
            event.name or event.id,
            extra={"event": "streaming_start", "query": event.name or str(event.id)},
        )

    def onQueryProgress(self, event: Any) -> None:
        """Log ``streaming_batch`` (and ``streaming_lag`` when a batch outlasts the trigger)."""
        progress = event.progress
        query = progress.name or str(progress.id)
        latency = _latency_s(progress.eventTime.get("max"))
        window = self._latencies.setdefault(query, deque(maxlen=_WINDOW))
        if latency is not None:
            window.append(latency)
        duration_s = progress.batchDuration / 1000
        fields = {
            "event": "streaming_batch",
            "query": query,
            "batch_id": progress.batchId,
            "input_rows": progress.numInputRows,
            "input_rows_per_s": round(progress.inputRowsPerSecond or 0.0, 1),
            "processed_rows_per_s": round(progress.processedRowsPerSecond or 0.0, 1),
            "batch_duration_s": duration_s,
            "latency_s": latency,
            "latency_p50_s": _percentile(window, 50),
            "latency_p95_s": _percentile(window, 95),
            "watermark": progress.eventTime.get("watermark"),
            "state_rows": sum(s.numRowsTotal for s in progress.stateOperators),
            "late_rows_dropped": sum(s.numRowsDroppedByWatermark for s in progress.stateOperators),
        }
        logger.info(
            "Batch %s of %s: %s rows in %.2f s",
            progress.batchId,
            query,
            progress.numInputRows,
            duration_s,
            extra=fields,
        )
        if self._interval and duration_s > self._interval:
            logger.warning(
                "Query %s falls behind: batch took %.2f s, trigger is %.2f s",
                query,
                duration_s,
                self._interval,
                extra={
                    "event": "streaming_lag",
                    "query": query,
                    "batch_duration_s": duration_s,
                    "trigger_s": self._interval,
                },
            )

    def onQueryIdle(self, event: Any) -> None:
        """Nothing to log when no data arrives."""

    def onQueryTerminated(self, event: Any) -> None:
        """Log ``streaming_end`` (with the error, if the query failed)."""
        level = logging.ERROR if event.exception else logging.INFO
        logger.log(
            level,
            "Streaming query %s ended",
            event.id,
            extra={"event": "streaming_end", "query": str(event.id), "error": event.exception},
        )


def _latency_s(max_event_time: str | None) -> float | None:
    if not max_event_time:
        return None
    newest = datetime.fromisoformat(max_event_time.replace("Z", "+00:00"))
    return round((datetime.now(UTC) - newest).total_seconds(), 3)


def _percentile(values: deque[float], pct: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return round(statistics.quantiles(values, n=100, method="inclusive")[pct - 1], 3)


_listeners: dict[int, MetricsListener] = {}


def ensure_listener(spark: SparkSession, trigger_interval_s: float | None = None) -> None:
    """Register the metrics listener on ``spark`` once."""
    key = id(spark)
    if key not in _listeners:
        _listeners[key] = MetricsListener(trigger_interval_s)
        spark.streams.addListener(_listeners[key])
