"""The cursor of an incremental JDBC source: rows whose cursor column passed the last run's
high-water mark, up to the mark fixed when the load starts.

::

    incremental:
      cursor: updated_at          # a column that only grows: a timestamp, a date or a number
      initial: "2026-01-01"       # the first run reads rows at or after it (default: every row)
      lag: 10 minutes             # re-read rows this far behind the mark (late commits); a
                                  # number for a numeric cursor. Use it with an upsert sink.

The load asks the database for the cursor's maximum (``SELECT MAX``: Spark pushes the
aggregate down) and reads ``mark - lag < cursor <= maximum``, the filter pushed into the
query; the maximum is held in the source's state slot and committed once the data is written.
Rows committed meanwhile with a cursor at or below the maximum are the ``lag``'s business; rows
above it wait for the next run. Rows whose cursor is NULL are never read incrementally.

Marks travel as text in Spark's own formatting (the session's time zone), so a mark read back
compares exactly with the column it came from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_etl.datasets.base import check_identifier
from spark_etl.datasets.exceptions import DatasetConfigError

_NUMERIC = (
    T.IntegerType,
    T.LongType,
    T.ShortType,
    T.ByteType,
    T.DecimalType,
    T.DoubleType,
    T.FloatType,
)
_TEMPORAL = (T.TimestampType, T.TimestampNTZType, T.DateType)
#: A lag: a number (a numeric cursor's), or an amount of a unit of time.
_LAG = re.compile(r"^\d+(\.\d+)?( (second|minute|hour|day|week)s?)?$")


@dataclass(frozen=True)
class Cursor:
    """An incremental JDBC source's cursor column, first value and lag."""

    column: str
    initial: str | None = None
    lag: str | None = None

    @classmethod
    def parse(cls, settings: Any, where: str) -> Cursor | None:
        """The ``incremental`` option of a JDBC catalog entry (``None``: not incremental)."""
        if settings in (None, False):
            return None
        if not isinstance(settings, dict) or "cursor" not in settings:
            raise DatasetConfigError(
                f"JDBCDataset '{where}': incremental needs a cursor column, for example "
                "incremental: {cursor: updated_at, lag: 10 minutes}."
            )
        unknown = set(settings) - {"cursor", "initial", "lag"}
        if unknown:
            raise DatasetConfigError(
                f"JDBCDataset '{where}': incremental has no option {sorted(unknown)}; use "
                "cursor, initial, lag."
            )
        initial, lag = settings.get("initial"), settings.get("lag")
        if lag is not None and not _LAG.match(str(lag).strip()):
            raise DatasetConfigError(
                f"JDBCDataset '{where}': incremental.lag '{lag}' is not a lag; write a number "
                "(a numeric cursor) or an amount of time such as '10 minutes' or '2 hours'."
            )
        return cls(
            check_identifier(str(settings["cursor"]), "cursor column"),
            None if initial is None else str(initial),
            None if lag is None else str(lag).strip(),
        )

    def bounded(
        self, data: DataFrame, committed: dict[str, Any] | None, where: str
    ) -> tuple[DataFrame, dict[str, Any], str]:
        """``data`` cut to the rows after the mark and up to the maximum now; the position
        to commit; the range in words."""
        if self.column not in data.columns:
            raise DatasetConfigError(
                f"JDBCDataset '{where}': the cursor column '{self.column}' is not a column of "
                f"the source (it has: {', '.join(data.columns)})."
            )
        kind = data.schema[self.column].dataType
        if not isinstance(kind, _NUMERIC + _TEMPORAL):
            raise DatasetConfigError(
                f"JDBCDataset '{where}': the cursor column '{self.column}' is "
                f"{kind.simpleString()}; a cursor is a timestamp, a date or a number."
            )
        column = F.col(self.column)
        top = data.select(F.max(column).cast("string").alias("top")).collect()[0]["top"]
        mark = committed.get("value") if committed else None
        if top is None:  # an empty table: nothing to read, the mark stays
            return data.limit(0), dict(committed or {}), "nothing (the source is empty)"
        condition = column <= F.lit(top).cast(kind)
        if mark is not None:
            condition &= column > self._behind(F.lit(mark).cast(kind), kind)
            said = f"{self.column} > {mark}" + (f" - {self.lag}" if self.lag else "")
        elif self.initial is not None:
            condition &= column >= F.lit(self.initial).cast(kind)
            said = f"{self.column} >= {self.initial}"
        else:
            said = f"every row with a {self.column}"
        return data.filter(condition), {"column": self.column, "value": top}, f"{said}, <= {top}"

    def _behind(self, mark: Column, kind: T.DataType) -> Column:
        if not self.lag:
            return mark
        if isinstance(kind, _TEMPORAL):
            return mark - F.expr(f"INTERVAL {self.lag}")
        if " " in self.lag:
            raise DatasetConfigError(
                f"incremental.lag '{self.lag}' of cursor '{self.column}' is an amount of time; "
                "a numeric cursor's lag is a number."
            )
        return mark - F.lit(float(self.lag))
