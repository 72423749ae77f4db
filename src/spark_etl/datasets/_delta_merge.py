"""What a write into an existing Delta table must agree with, and the ``MERGE`` of an upsert.

The upsert keeps ``JDBCDataset``'s rules: a row whose key is in the table is updated only when a
tracked column (any but the keys and the audit columns) changed, so re-running a batch touches
nothing; the audit columns take the batch's values only along with such a change; a new key is
inserted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql.types import StructType

from spark_etl.datasets.exceptions import TableSchemaChangedError

SOURCE = "s"
TARGET = "t"


def quoted(column: str) -> str:
    """A column name for Delta's SQL expressions (backquoted; names are checked identifiers or
    the data's own columns)."""
    return "`" + column.replace("`", "``") + "`"


@dataclass(frozen=True)
class SchemaDifference:
    """How the data's columns differ from the table's."""

    new: list[str]
    missing: list[str]
    retyped: list[tuple[str, str, str]]

    def __bool__(self) -> bool:
        return bool(self.new or self.missing or self.retyped)


def schema_difference(data: StructType, table: StructType) -> SchemaDifference:
    """Columns of ``data`` not in ``table``, columns of ``table`` not in ``data`` and columns
    of both whose types differ (name, table type, data type); names compare without case, as
    Delta does."""
    theirs = {f.name.lower(): f for f in table.fields}
    ours = {f.name.lower(): f for f in data.fields}
    retyped = [
        (f.name, theirs[key].dataType.simpleString(), f.dataType.simpleString())
        for key, f in ours.items()
        if key in theirs and theirs[key].dataType != f.dataType
    ]
    return SchemaDifference(
        new=[f.name for key, f in ours.items() if key not in theirs],
        missing=[f.name for key, f in theirs.items() if key not in ours],
        retyped=retyped,
    )


def refuse_schema_change(
    difference: SchemaDifference, *, path: str, evolution: bool
) -> TableSchemaChangedError | None:
    """The error for a write whose columns differ from the table's (``None``: it may go on).

    With ``evolution`` new columns are added to the table and missing ones are left null in new
    rows; a changed type is refused either way (a table's column keeps its type).
    """
    if not difference or (evolution and not difference.retyped):
        return None
    parts = []
    if difference.retyped:
        parts.append(
            "changed type: "
            + ", ".join(f"{name} ({old} -> {new})" for name, old, new in difference.retyped)
        )
    if difference.new and not evolution:
        parts.append("new: " + ", ".join(difference.new))
    if difference.missing and not evolution:
        parts.append("missing from the data: " + ", ".join(difference.missing))
    if difference.retyped:
        advice = (
            "A column keeps its type: cast it in a transform (F.col(...).cast(...)), or write "
            "to a new table."
        )
    else:
        advice = (
            "Set schema_evolution: true in the catalog entry to add new columns to the table "
            "(missing ones stay null in new rows), or select the table's columns in a transform."
        )
    return TableSchemaChangedError(
        f"Delta table '{path}': nothing written, the data's columns differ from the table's "
        f"({'; '.join(parts)}). {advice}"
    )


def upsert_merge(
    target: Any,
    source: DataFrame,
    *,
    keys: list[str],
    audit: list[str],
    evolution: bool,
    table_columns: list[str],
) -> Any:
    """The ``DeltaMergeBuilder`` of an upsert of ``source`` into the ``DeltaTable`` ``target``,
    whose columns are ``table_columns`` (not executed). A column the batch adds (schema
    evolution) counts as a change where the batch has a value for it."""
    in_table = {c.lower() for c in table_columns}
    skipped = {k.lower() for k in keys} | {a.lower() for a in audit}
    tracked = [c for c in source.columns if c.lower() not in skipped]
    on = " AND ".join(f"{TARGET}.{quoted(k)} = {SOURCE}.{quoted(k)}" for k in keys)
    merge = target.alias(TARGET).merge(source.alias(SOURCE), on)
    # "all" clauses assign the batch's columns by name: with schema evolution they also add the
    # batch's new columns and leave the table's other columns as they are
    if tracked:
        changed = " OR ".join(
            f"NOT ({TARGET}.{quoted(c)} <=> {SOURCE}.{quoted(c)})"
            if c.lower() in in_table
            else f"{SOURCE}.{quoted(c)} IS NOT NULL"
            for c in tracked
        )
        merge = merge.whenMatchedUpdateAll(condition=changed)
    merge = merge.whenNotMatchedInsertAll()
    if evolution:
        merge = merge.withSchemaEvolution()
    return merge
