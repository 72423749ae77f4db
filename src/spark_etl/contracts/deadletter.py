"""The dead-letter queue's front door: records that cannot be processed but must not stop the run.

Producers (an undecodable Kafka message, a row dropped by a quality rule) call :func:`send` with the
rejected rows; the runtime installs the sink (a Kafka topic or an S3 path, Avro with the
``dead_letter`` schema) for the run with :func:`install`. Without a sink the records are counted
and logged as a warning, never dropped in silence.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

logger = logging.getLogger(__name__)

#: Writes a batch of dead letters; returns how many it wrote (``None``: not counted).
DeadLetterSink = Callable[[DataFrame], "int | None"]


@dataclass
class _Installed:
    sink: DeadLetterSink | None = None
    pipeline: str = "<none>"
    run_id: str = "<none>"
    #: the records rejected in this run, per dataset they were rejected from
    rejected: Counter[str] = field(default_factory=Counter)


_current = _Installed()


def install(sink: DeadLetterSink | None, *, pipeline: str, run_id: str) -> None:
    """Route dead letters of this run to ``sink`` (``None`` keeps them counted in the log only)."""
    _current.sink, _current.pipeline, _current.run_id = sink, pipeline, run_id
    _current.rejected.clear()


def rejected() -> dict[str, int]:
    """The records rejected since :func:`install`, per dataset they were rejected from (with a
    sink or without: dead letters and records dropped with a warning alike)."""
    return dict(_current.rejected)


def uninstall() -> None:
    """Forget the run's sink (at the end of the run)."""
    install(None, pipeline="<none>", run_id="<none>")


def row_payload(rows: DataFrame) -> Column:
    """A row as UTF-8 JSON bytes: the payload of a rejected row."""
    return F.to_json(F.struct(*[F.col(c) for c in rows.columns])).cast("binary")


def as_dead_letters(
    rows: DataFrame, *, payload: Column, error: Column | str, stage: str, dataset: str
) -> DataFrame:
    """``rows`` shaped as the ``dead_letter`` contract (schemas/dead_letter.avsc)."""
    return rows.select(
        payload.cast("binary").alias("payload"),
        (error if isinstance(error, Column) else F.lit(error)).alias("error"),
        F.lit(stage).alias("stage"),
        F.lit(_current.pipeline).alias("pipeline"),
        F.lit(dataset).alias("dataset"),
        F.lit(_current.run_id).alias("run_id"),
        F.current_timestamp().alias("failed_at"),
    )


def send(
    rows: DataFrame, *, payload: Column, error: Column | str, stage: str, dataset: str
) -> None:
    """Hand rejected rows to the run's dead-letter sink (or count and log them)."""
    letters = as_dead_letters(rows, payload=payload, error=error, stage=stage, dataset=dataset)
    if _current.sink is not None:
        written = _current.sink(letters)
        if written:
            _current.rejected[dataset] += written
        return
    count = letters.count() if not letters.isStreaming else -1
    if count == 0:
        return
    if count > 0:
        _current.rejected[dataset] += count
    logger.warning(
        "%s record(s) of %s rejected at %s with no dead-letter sink configured",
        count,
        dataset,
        stage,
        extra={
            "event": "dead_letter",
            "dataset": dataset,
            "stage": stage,
            "records": count,
            "sink": None,
        },
    )
