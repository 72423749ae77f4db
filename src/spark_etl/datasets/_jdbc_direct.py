"""Small micro-batches written straight from the driver: one statement over one connection.

A stream that upserts a few hundred window counts every second spends most of each write on the
staging path's fixed steps: a staging table created, a Spark job that loads it over connections
from the tasks, the commit, the drop. A micro-batch of at most ``small_batch_rows`` rows is
instead collected by one Spark job (built-in expressions) as one JSON array of its values' text,
the same text the bulk path writes (timestamps as their wall-clock time, binary as hex), and the
commit statement reads it as its source: ``INSERT ... SELECT ... FROM json_array_elements(?)``
with the upsert's own ``ON CONFLICT`` clause (which refuses a key twice in the batch), each value
cast to its column's type. It is one
statement in one transaction, so a failed batch writes nothing and a replayed one (the same batch
id after a restart) leaves the same rows, as on the staging path.

The job that collects a batch stops at ``small_batch_rows + 1`` rows; a larger batch goes through
the staging table (its Spark plan runs again). A stream's next batch is collected only if the last
one was small (by the rows its commit changed, when it went through the staging table), so a
stream whose batches are large does not read each of them twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DataType

#: The default ``small_batch_rows``: off. On the benchmark machine the one-statement write did
#: not yet lower a stream's latency (docs/benchmarks.md), so the staging table stays the default.
DEFAULT_SMALL_BATCH_ROWS = 0


@dataclass
class SmallBatches:
    """Which micro-batches of one sink are tried on the direct path: those of at most
    ``max_rows`` rows, while the stream's last batch was that small."""

    max_rows: int
    last_rows: int | None = None

    def record(self, rows: int | None) -> None:
        """Remember the rows of the batch just written (``None``: not known; the last count
        stands)."""
        if rows is not None:
            self.last_rows = rows

    def worth_trying(self) -> bool:
        """Whether to collect the next batch (the stream's first, or one after a small one)."""
        return self.max_rows > 0 and (self.last_rows is None or self.last_rows <= self.max_rows)


@dataclass(frozen=True)
class CollectedBatch:
    """What the collecting job found: the rows (up to ``max_rows + 1``) and the JSON array of
    their values (``None`` when the batch is too large)."""

    rows: int
    document: str | None


def collect_small(
    data: DataFrame, max_rows: int, value_text: Callable[[Column, DataType], Column]
) -> CollectedBatch:
    """Collect ``data`` in one job as a JSON array of objects whose field ``c<i>`` holds the
    text of column ``i`` (a NULL leaves the field out), unless it has more than ``max_rows``
    rows."""
    fields = [
        value_text(F.col(field.name), field.dataType).alias(f"c{i}")
        for i, field in enumerate(data.schema.fields)
    ]
    aggregates = [
        F.count(F.lit(1)).alias("rows"),
        F.to_json(F.collect_list(F.struct(*fields))).alias("document"),
    ]
    row = data.limit(max_rows + 1).agg(*aggregates).first()
    rows = int(row["rows"]) if row is not None else 0
    if row is None or rows > max_rows:
        return CollectedBatch(rows=rows, document=None)
    return CollectedBatch(rows=rows, document=str(row["document"]))
