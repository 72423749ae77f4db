"""SCD Type 2 (``write_mode: scd2``): a dimension that keeps every version of a row.

Each key has at most one *current* version (``is_current`` true, ``valid_to`` null). A batch
row whose key has no current version opens one; a row whose tracked columns differ from its
key's current version closes that version (``valid_to`` = the new version's start,
``is_current`` false) and opens a new one; a row equal to it changes nothing, so a re-run is a
no-op. With ``deletes: close`` the batch is the whole dimension: a current version whose key is
not in it is closed. All of it is one transaction (JDBC) or one commit (Delta).

A version starts at ``effective_from``, a column of the batch (when the source says the row
changed), or else at the write's own time (UTC), the same for the whole batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import BooleanType, StructField, StructType, TimestampType

from spark_etl._validation import validated
from spark_etl.datasets._delta_merge import quoted
from spark_etl.datasets.base import check_identifier
from spark_etl.datasets.exceptions import DatasetConfigError
from spark_etl.exceptions import ConfigError


class Scd2Settings(BaseModel):
    """The ``scd2`` block of a catalog entry with ``write_mode: scd2``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: the columns whose change opens a new version (default: every column but the keys)
    tracked_columns: list[str] | None = None
    valid_from: str = "valid_from"
    valid_to: str = "valid_to"
    is_current: str = "is_current"
    #: a column of the batch holding when each row's version starts (default: the write's time)
    effective_from: str | None = None
    #: what a key missing from the batch means: nothing (``keep``), or deleted (``close``)
    deletes: Literal["keep", "close"] = "keep"

    @field_validator("valid_from", "valid_to", "is_current", "effective_from")
    @classmethod
    def _identifier(cls, value: str | None) -> str | None:
        return None if value is None else check_identifier(value, "scd2 column")

    @field_validator("tracked_columns")
    @classmethod
    def _identifiers(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else [check_identifier(c, "tracked column") for c in value]

    @property
    def version_columns(self) -> list[str]:
        """The columns the dataset keeps beside the batch's own."""
        return [self.valid_from, self.valid_to, self.is_current]

    def tracked(self, columns: list[str], keys: list[str]) -> list[str]:
        """The tracked columns among the batch's ``columns``.

        Raises:
            DatasetConfigError: for a tracked or ``effective_from`` column the batch does not
                have.
        """
        if self.effective_from and self.effective_from not in columns:
            raise DatasetConfigError(
                f"scd2.effective_from '{self.effective_from}' is not in the data; its columns: "
                f"{', '.join(columns)}. Add the column in a transform, or remove effective_from "
                "(versions then start at the write's time)."
            )
        if self.tracked_columns is None:
            skip = {*keys, *([self.effective_from] if self.effective_from else [])}
            return [c for c in columns if c not in skip]
        missing = [c for c in self.tracked_columns if c not in columns]
        if missing:
            raise DatasetConfigError(
                f"scd2.tracked_columns {', '.join(missing)} not in the data; its columns: "
                f"{', '.join(columns)}."
            )
        return list(self.tracked_columns)


def parse_scd2(raw: Any, write_mode: str, owner: str) -> Scd2Settings | None:
    """The ``scd2`` block (``None`` unless ``write_mode`` is ``scd2``).

    Raises:
        DatasetConfigError: a block without the mode, or a wrong block, naming the dataset.
    """
    if write_mode != "scd2":
        if raw is not None:
            raise DatasetConfigError(
                f"{owner}: an scd2 block needs write_mode: scd2 (the entry's is '{write_mode}')."
            )
        return None
    try:
        return validated(Scd2Settings, raw, key="scd2", what="SCD2 settings", source=owner)
    except ConfigError as exc:
        raise DatasetConfigError(str(exc)) from None


def write_time() -> str:
    """Now in UTC, as SQL timestamp text (the start of the versions a batch opens)."""
    return datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


# Delta: one MERGE

_START = "__spark_etl_version_start"
_MERGE_KEY = "__spark_etl_merge_key_"


def delta_scd2_merge(
    target: Any,
    batch: DataFrame,
    *,
    keys: list[str],
    tracked: list[str],
    settings: Scd2Settings,
    now: str,
) -> Any:
    """The ``DeltaMergeBuilder`` of an SCD2 write of ``batch`` into ``target`` (not executed).

    The source holds every batch row under its key, which closes its key's current version
    when a tracked column changed, and once more under no key the rows that changed, which
    the ``MERGE`` cannot match and so inserts as the new versions (Delta's documented SCD2
    pattern: one commit for both).
    """
    start = F.col(settings.effective_from) if settings.effective_from else F.lit(now)
    rows = batch.withColumn(_START, start.cast("timestamp"))
    current = target.toDF().where(F.col(settings.is_current))
    differs = " OR ".join(f"NOT (c.{quoted(t)} <=> b.{quoted(t)})" for t in tracked) or "false"
    changed = (
        rows.alias("b")
        .join(current.alias("c"), [F.col(f"b.{k}") == F.col(f"c.{k}") for k in keys])
        .where(differs)
        .select("b.*")
    )
    keyed = rows.select(*[F.col(k).alias(_MERGE_KEY + k) for k in keys], "*")
    unkeyed = changed.select(
        *[F.lit(None).cast(rows.schema[k].dataType).alias(_MERGE_KEY + k) for k in keys], "*"
    )
    source = keyed.unionByName(unkeyed)
    on = " AND ".join(f"t.{quoted(k)} = s.{quoted(_MERGE_KEY + k)}" for k in keys)
    on += f" AND t.{quoted(settings.is_current)}"
    closes = {
        quoted(settings.valid_to): f"s.{quoted(_START)}",
        quoted(settings.is_current): "false",
    }
    inserted = {quoted(c): f"s.{quoted(c)}" for c in batch.columns}
    inserted[quoted(settings.valid_from)] = f"s.{quoted(_START)}"
    inserted[quoted(settings.valid_to)] = "CAST(NULL AS TIMESTAMP)"
    inserted[quoted(settings.is_current)] = "true"
    s_differs = " OR ".join(f"NOT (t.{quoted(c)} <=> s.{quoted(c)})" for c in tracked) or "false"
    merge = (
        target.alias("t")
        .merge(source.alias("s"), on)
        .whenMatchedUpdate(condition=s_differs, set=closes)
        .whenNotMatchedInsert(values=inserted)
    )
    if settings.deletes == "close":
        merge = merge.whenNotMatchedBySourceUpdate(
            condition=f"t.{quoted(settings.is_current)}",
            set={
                quoted(settings.valid_to): f"CAST('{now}' AS TIMESTAMP)",
                quoted(settings.is_current): "false",
            },
        )
    return merge


def delta_first_versions(batch: DataFrame, settings: Scd2Settings, now: str) -> DataFrame:
    """The rows that create an SCD2 table: every batch row, current from its start."""
    start = F.col(settings.effective_from) if settings.effective_from else F.lit(now)
    return (
        batch.withColumn(settings.valid_from, start.cast("timestamp"))
        .withColumn(settings.valid_to, F.lit(None).cast("timestamp"))
        .withColumn(settings.is_current, F.lit(True))
    )


@dataclass(frozen=True)
class VersionColumns:
    """What the SQL of one SCD2 write needs: the version columns, where versions start, and
    whether missing keys are closed."""

    valid_from: str
    valid_to: str
    is_current: str
    effective_from: str | None
    now: str
    close_missing: bool


def version_columns(settings: Scd2Settings, now: str) -> VersionColumns:
    """The version columns of ``settings`` for a write at ``now``."""
    return VersionColumns(
        settings.valid_from,
        settings.valid_to,
        settings.is_current,
        settings.effective_from,
        now,
        settings.deletes == "close",
    )


def versioned_shape(data: DataFrame, settings: Scd2Settings) -> DataFrame:
    """``data`` with no rows and the version columns: what the table gives back once ``data`` is
    saved with ``write_mode: scd2`` (a later node of the run reads that)."""
    return data.limit(0).select(
        *[F.col(f"`{c}`") for c in data.columns],
        F.lit(None).cast(TimestampType()).alias(settings.valid_from),
        F.lit(None).cast(TimestampType()).alias(settings.valid_to),
        F.lit(None).cast(BooleanType()).alias(settings.is_current),
    )


def with_version_columns(shape: StructType, settings: Scd2Settings) -> StructType:
    """``shape`` and the version columns: the table an SCD2 write creates."""
    return StructType(
        [
            *shape.fields,
            StructField(settings.valid_from, TimestampType(), nullable=False),
            StructField(settings.valid_to, TimestampType(), nullable=True),
            StructField(settings.is_current, BooleanType(), nullable=False),
        ]
    )
