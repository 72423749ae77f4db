"""Streaming settings of a sink, and the query a streaming ``save`` starts.

A sink's catalog entry says how its streaming query runs::

    streaming:
      trigger: 5 seconds                      # or available-now (bounded runs), real-time
                                              # (Kafka -> Kafka, stateless), or a dict
      checkpoint_location: .local/checkpoints/streaming_kafka_pg   # or s3a://bucket/ckpt/...
      output_mode: update                     # append | update | complete
      query_name: event_counts_pg

The query writes each micro-batch with the sink's own batch write (``foreachBatch``), so append,
overwrite and upsert mean the same thing as in batch runs, and an upsert replayed after a restart
(Spark re-runs the last uncommitted batch with the same id) leaves the same rows.

A source may ask for work after each micro-batch that reads it (:class:`AfterBatch`: a Kafka
stream routes its undecodable values to the dead letters): it counts what it needs in the plan
(an ``observe``), and the query that writes the stream runs the work once the sink's job over the
batch ran (before the sink's own commit where it has one: :func:`before_commit`), and before Spark
commits the batch, so a failure replays the batch instead of losing the work. A sink
that writes without ``foreachBatch`` (Spark's file sink) claims the work and does it its own way
(:meth:`AfterBatch.fallback`); a query started outside spark-etl is given that fallback by the
runner (:func:`start_unclaimed`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import DataStreamWriter, StreamingQuery

from spark_etl._jvm import micro_batch_observed
from spark_etl._validation import problems
from spark_etl.datasets._real_time import DEFAULT_BATCH, is_real_time, refuse_sink
from spark_etl.datasets.exceptions import DatasetConfigError

logger = logging.getLogger(__name__)

#: How long a micro-batch waits for ``start`` to hand over its query (the first batch can begin
#: before ``start`` returns).
_QUERY_WAIT_S = 60.0


class StreamingSettings(BaseModel):
    """The ``streaming`` block of a sink's catalog entry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    checkpoint_location: str
    trigger: dict[str, Any] | str = Field(default_factory=lambda: {"processingTime": "5 seconds"})
    output_mode: Literal["append", "update", "complete"] = "append"
    query_name: str | None = None


def trigger_args(trigger: dict[str, Any] | str) -> dict[str, Any]:
    """Keyword arguments of ``DataStreamWriter.trigger``: a dict as is, or a string shortcut:
    ``available-now`` (bounded: what is there now, then stop), ``once``, ``real-time`` (Spark's
    Real-Time Mode, in batches of :data:`~spark_etl.datasets._real_time.DEFAULT_BATCH`), or an
    interval such as ``5 seconds`` (what ``${oc.env:...}`` in the catalog can hand over)."""
    if isinstance(trigger, dict):
        return trigger
    text = trigger.strip().lower().replace("_", "-")
    if text in ("available-now", "availablenow"):
        return {"availableNow": True}
    if text == "once":
        return {"once": True}
    if text in ("real-time", "realtime"):
        return {"realTime": DEFAULT_BATCH}
    return {"processingTime": trigger}


def parse_settings(raw: dict[str, Any] | None, owner: str) -> StreamingSettings | None:
    """Validate a sink's ``streaming`` block (``None`` when absent).

    Raises:
        DatasetConfigError: naming the dataset and the problem.
    """
    if raw is None:
        return None
    try:
        return StreamingSettings(**raw)
    except ValidationError as exc:
        said = problems(exc, "streaming")
        raise DatasetConfigError(f"{owner}: invalid streaming settings: {said}.") from exc


@dataclass(frozen=True)
class AfterBatch:
    """Work a source asks of every micro-batch that reads it.

    Attributes:
        name: the name of the source's ``observe`` in the plan; what it observed in a batch
            is handed to ``run``.
        owner: the source, for messages.
        run: called with the observed metrics and the batch id once the sink's job over the
            batch ran: before the sink commits (:func:`before_commit`), else after its write;
            always before the query commits the batch.
        fallback: does the work without ``run`` (a side query), for a query that cannot call it.
    """

    name: str
    owner: str
    run: Callable[[dict[str, Any], int], None]
    fallback: Callable[[], None]


_unclaimed: dict[str, AfterBatch] = {}
_lock = threading.Lock()
_batch = threading.local()  # the work of the micro-batch this thread is writing


def before_commit() -> None:
    """Run the sources' work of the micro-batch being written on this thread, now (no-op
    outside one, or once done). A sink whose write ends with a commit calls it just before:
    its target then stays unchanged when the work fails, and the replayed batch is written
    once. For any other sink the work runs after its write."""
    pending = getattr(_batch, "pending", None)
    _batch.pending = None
    if pending is not None:
        pending()


def after_each_batch(work: AfterBatch) -> None:
    """Register ``work`` for the query that will write the stream observed as ``work.name``."""
    with _lock:
        _unclaimed[work.name] = work


def claim(data: DataFrame) -> list[AfterBatch]:
    """The work registered for the streams ``data`` reads; the caller now does it."""
    plan = str(data._jdf.queryExecution().logical().toString())
    return _claim_in(plan)


def _claim_in(plan: str) -> list[AfterBatch]:
    with _lock:
        found = [work for name, work in _unclaimed.items() if name in plan]
        for work in found:
            del _unclaimed[work.name]
    return found


def start_unclaimed(spark: SparkSession) -> None:
    """Give the fallback to the work of streams written by queries outside spark-etl's sinks
    (a plain ``writeStream``); forget the work of streams no active query reads."""
    for query in spark.streams.active:
        # the plan it was started with: its logicalPlan is built later, on the query's thread
        plan = str(query._jsq.streamingQuery().analyzedPlan().toString())
        for work in _claim_in(plan):
            logger.warning(
                "The stream of %s is written by query %s outside a spark-etl sink: its work "
                "after each micro-batch runs in a side query instead",
                work.owner,
                query.name or query.id,
            )
            work.fallback()
    with _lock:
        _unclaimed.clear()


def start_query(
    data: DataFrame,
    settings: StreamingSettings | None,
    write_batch: Callable[[DataFrame, int], None],
    owner: str,
) -> StreamingQuery:
    """Start the query that hands each micro-batch of ``data`` to ``write_batch``, then runs
    the sources' work after the batch (:class:`AfterBatch`).

    Raises:
        DatasetConfigError: when the sink has no ``streaming`` settings (a checkpoint is needed),
            or asks for Real-Time Mode, which does not run ``foreachBatch``.
    """
    settings = require_settings(settings, owner)
    if is_real_time(trigger_args(settings.trigger)):
        raise refuse_sink(owner)
    works = claim(data)
    started: list[StreamingQuery] = []
    handed_over = threading.Event()

    def run_batch(batch: DataFrame, batch_id: int) -> None:
        _batch.pending = (lambda: run_works(batch_id)) if works else None
        try:
            write_batch(batch, batch_id)
            before_commit()  # if the sink did not
        finally:
            _batch.pending = None

    def run_works(batch_id: int) -> None:
        if not handed_over.wait(_QUERY_WAIT_S):
            raise RuntimeError(f"{owner}: the streaming query was not handed over in time")
        for work in works:
            observed = micro_batch_observed(started[0], work.name)
            if observed is None:
                raise RuntimeError(
                    f"{owner}: micro-batch {batch_id} kept no metrics of {work.owner} "
                    f"('{work.name}'); its work after the batch cannot run"
                )
            work.run(observed, batch_id)

    writer = (
        data.writeStream.foreachBatch(run_batch)
        .outputMode(settings.output_mode)
        .option("checkpointLocation", settings.checkpoint_location)
        .trigger(**trigger_args(settings.trigger))
    )
    if settings.query_name:
        writer = writer.queryName(settings.query_name)
    query = start_untagged(writer, data.sparkSession)
    started.append(query)
    handed_over.set()
    log_started(query, settings, owner)
    return query


def require_settings(settings: StreamingSettings | None, owner: str) -> StreamingSettings:
    """A streaming sink's settings.

    Raises:
        DatasetConfigError: when it has none (a query needs a checkpoint).
    """
    if settings is None:
        raise DatasetConfigError(
            f"{owner} was given a streaming DataFrame but has no 'streaming' settings: add "
            "streaming: {checkpoint_location: ..., trigger: ..., output_mode: ...} to its "
            "catalog entry."
        )
    return settings


def log_started(query: StreamingQuery, settings: StreamingSettings, owner: str) -> None:
    """The ``streaming_trigger`` line of a query a sink started."""
    logger.info(
        "Streaming query %s of %s started: %s",
        query.name or query.id,
        owner,
        describe_trigger(settings),
        extra={
            "event": "streaming_trigger",
            "query": query.name or str(query.id),
            "trigger": trigger_args(settings.trigger),
            "default_trigger": "trigger" not in settings.model_fields_set,
        },
    )


def describe_trigger(settings: StreamingSettings) -> str:
    """The trigger in words, and whether it is the default (which users do not expect)."""
    args = trigger_args(settings.trigger)
    if args.get("availableNow"):
        said = "what is in its sources now, in micro-batches, then it stops (available-now)"
    elif args.get("once"):
        said = "what is in its sources now, in one micro-batch, then it stops (once)"
    elif "processingTime" in args:
        said = f"a micro-batch every {args['processingTime']}"
    elif is_real_time(args):
        said = (
            "Real-Time Mode, each record written as it arrives (offsets checkpointed every "
            f"{args['realTime']})"
        )
    else:
        said = f"trigger {args}"
    if "trigger" not in settings.model_fields_set:
        said += " (the default trigger: set streaming.trigger in the catalog entry)"
    return said


def start_untagged(writer: DataStreamWriter, spark: SparkSession) -> StreamingQuery:
    """Start the query without the starting thread's job tags: Spark would give them to every
    job of the query (a node's timeout tag would cancel the stream it started), and pyspark's
    listener cannot read a started event that carries tags."""
    context = spark.sparkContext
    tags = set(context.getJobTags())
    context.clearJobTags()
    try:
        return writer.start()
    finally:
        for tag in tags:
            context.addJobTag(tag)
