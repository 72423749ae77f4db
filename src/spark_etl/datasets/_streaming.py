"""Streaming settings of a sink, and the query a streaming ``save`` starts.

A sink's catalog entry says how its streaming query runs::

    streaming:
      trigger: 5 seconds                      # or available-now (bounded runs), or a dict
      checkpoint_location: .local/checkpoints/streaming_kafka_pg   # or s3a://bucket/ckpt/...
      output_mode: update                     # append | update | complete
      query_name: event_counts_pg

The query writes each micro-batch with the sink's own batch write (``foreachBatch``), so append,
overwrite and upsert mean the same thing as in batch runs, and an upsert replayed after a restart
(Spark re-runs the last uncommitted batch with the same id) leaves the same rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pyspark.sql import DataFrame
from pyspark.sql.streaming import StreamingQuery

from spark_etl.datasets.exceptions import DatasetConfigError


class StreamingSettings(BaseModel):
    """The ``streaming`` block of a sink's catalog entry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    checkpoint_location: str
    trigger: dict[str, Any] | str = Field(default_factory=lambda: {"processingTime": "5 seconds"})
    output_mode: Literal["append", "update", "complete"] = "append"
    query_name: str | None = None


def trigger_args(trigger: dict[str, Any] | str) -> dict[str, Any]:
    """Keyword arguments of ``DataStreamWriter.trigger``: a dict as is, or a string shortcut:
    ``available-now`` (bounded: what is there now, then stop), ``once``, or an interval such as
    ``5 seconds`` (what ``${oc.env:...}`` in the catalog can hand over)."""
    if isinstance(trigger, dict):
        return trigger
    text = trigger.strip().lower().replace("_", "-")
    if text in ("available-now", "availablenow"):
        return {"availableNow": True}
    if text == "once":
        return {"once": True}
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
        problems = "; ".join(
            f"streaming.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise DatasetConfigError(f"{owner}: invalid streaming settings: {problems}.") from exc


def start_query(
    data: DataFrame,
    settings: StreamingSettings | None,
    write_batch: Callable[[DataFrame, int], None],
    owner: str,
) -> StreamingQuery:
    """Start the query that hands each micro-batch of ``data`` to ``write_batch``.

    Raises:
        DatasetConfigError: when the sink has no ``streaming`` settings (a checkpoint is needed).
    """
    if settings is None:
        raise DatasetConfigError(
            f"{owner} was given a streaming DataFrame but has no 'streaming' settings: add "
            "streaming: {checkpoint_location: ..., trigger: ..., output_mode: ...} to its "
            "catalog entry."
        )
    writer = (
        data.writeStream.foreachBatch(write_batch)
        .outputMode(settings.output_mode)
        .option("checkpointLocation", settings.checkpoint_location)
        .trigger(**trigger_args(settings.trigger))
    )
    if settings.query_name:
        writer = writer.queryName(settings.query_name)
    return writer.start()
