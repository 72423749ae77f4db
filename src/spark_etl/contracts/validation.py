"""Checking a DataFrame against its contract: structure for free, values in one Spark pass.

Structure: every contract field present, with the contract's type or a *safe widening* of it (the
data is narrower than the contract and Avro promotes it without loss: int -> long, int/long/float
-> double, decimal(p, s) -> decimal(P, s) with p <= P), and no field the contract does not know (a
new field in the source is schema evolution: it halts and is reported as such). Nested records,
arrays and maps are checked the same way, field by field.

Values (batch DataFrames only; streaming ones are checked per micro-batch by their sink): no null
in a non-null top-level field, no value outside an enum. All conditions are aggregated in one job of
built-in expressions; a second, small job fetches up to ten offending records only on failure.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any, Literal

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_etl._secrets import MASK, is_secret_name
from spark_etl.contracts.exceptions import ContractViolationError, GuardFiredError
from spark_etl.contracts.guards import guard
from spark_etl.contracts.registry import Contract

logger = logging.getLogger(__name__)

IssueKind = Literal["missing", "type", "extra", "null", "enum"]
SAMPLE_ROWS = 10
_MAX_VALUE_CHARS = 64
_INTEGRAL = (T.ByteType, T.ShortType, T.IntegerType)


@dataclass(frozen=True)
class FieldIssue:
    """One problem with one field: what the contract expects and what the data has."""

    field: str
    kind: IssueKind
    expected: str
    actual: str
    rows: int = 0

    def describe(self) -> str:
        """One line for the error message."""
        if self.kind == "missing":
            return f"field '{self.field}' is missing (expected {self.expected})"
        if self.kind == "extra":
            return (
                f"field '{self.field}' ({self.actual}) is not in the contract: schema evolution "
                "(a field the source or the pipeline added); add it to the .avsc with a "
                "default, or drop it before this dataset"
            )
        if self.kind == "type":
            return f"field '{self.field}': expected {self.expected}, got {self.actual}"
        if self.kind == "null":
            return f"field '{self.field}' is not nullable, but {self.rows} row(s) hold null"
        return (
            f"field '{self.field}': {self.rows} row(s) hold a value outside the enum "
            f"{self.expected}"
        )


def widens_to(actual: T.DataType, expected: T.DataType) -> bool:
    """Whether data of type ``actual`` may be stored as ``expected`` without loss."""
    if isinstance(expected, T.LongType):
        return isinstance(actual, (*_INTEGRAL, T.LongType))
    if isinstance(expected, T.DoubleType):
        return isinstance(actual, (*_INTEGRAL, T.LongType, T.FloatType, T.DoubleType))
    if isinstance(expected, T.DecimalType) and isinstance(actual, T.DecimalType):
        return actual.scale == expected.scale and actual.precision <= expected.precision
    if isinstance(expected, T.IntegerType):
        return isinstance(actual, _INTEGRAL)
    return False


def structure_issues(
    actual: T.StructType, expected: T.StructType, prefix: str = ""
) -> list[FieldIssue]:
    """Missing, mistyped and unknown fields of ``actual`` against ``expected`` (recursively)."""
    issues: list[FieldIssue] = []
    have = {f.name: f.dataType for f in actual.fields}
    for field in expected.fields:
        path = prefix + field.name
        if field.name not in have:
            issues.append(FieldIssue(path, "missing", field.dataType.simpleString(), "-"))
        else:
            issues.extend(_type_issues(have[field.name], field.dataType, path))
    known = set(expected.fieldNames())
    issues.extend(
        FieldIssue(prefix + f.name, "extra", "-", f.dataType.simpleString())
        for f in actual.fields
        if f.name not in known
    )
    return issues


def _type_issues(actual: T.DataType, expected: T.DataType, path: str) -> list[FieldIssue]:
    if isinstance(expected, T.StructType) and isinstance(actual, T.StructType):
        return structure_issues(actual, expected, path + ".")
    if isinstance(expected, T.ArrayType) and isinstance(actual, T.ArrayType):
        return _type_issues(actual.elementType, expected.elementType, path + "[]")
    if isinstance(expected, T.MapType) and isinstance(actual, T.MapType):
        if not isinstance(actual.keyType, T.StringType):
            return [FieldIssue(path, "type", expected.simpleString(), actual.simpleString())]
        return _type_issues(actual.valueType, expected.valueType, path + "{}")
    if _same_type(actual, expected) or widens_to(actual, expected):
        return []
    return [FieldIssue(path, "type", expected.simpleString(), actual.simpleString())]


def _same_type(actual: T.DataType, expected: T.DataType) -> bool:
    return actual.simpleString() == expected.simpleString()


def value_issues(
    df: DataFrame, contract: Contract
) -> tuple[list[FieldIssue], int, list[dict[str, Any]]]:
    """Nulls in non-null fields and values outside enums, in one aggregation job.

    Returns:
        The issues, the number of offending rows, and up to ``SAMPLE_ROWS`` offending records.
    """
    checks = _value_conditions(df, contract)
    if not checks:
        return [], 0, []
    offending = _any(list(checks.values()))
    aggs = [
        F.sum(F.when(cond, 1).otherwise(0)).alias(f"c{i}") for i, cond in enumerate(checks.values())
    ]
    aggs.append(F.sum(F.when(offending, 1).otherwise(0)).alias("rows"))
    counts = df.agg(*aggs).first()
    assert counts is not None  # an aggregation without grouping always yields one row
    issues = [
        FieldIssue(name, kind, _expected(contract, name, kind), kind, int(counts[f"c{i}"] or 0))
        for i, (name, kind) in enumerate(checks)
        if counts[f"c{i}"]
    ]
    rows = int(counts["rows"] or 0)
    sample = (
        [
            _safe_record(r.asDict(recursive=True))
            for r in df.filter(offending).limit(SAMPLE_ROWS).collect()
        ]
        if rows
        else []
    )
    return issues, rows, sample


def _value_conditions(df: DataFrame, contract: Contract) -> dict[tuple[str, IssueKind], Column]:
    checks: dict[tuple[str, IssueKind], Column] = {}
    for name in contract.required:
        if name in df.columns:
            checks[(name, "null")] = F.col(name).isNull()
    for name, symbols in contract.enums.items():
        if name in df.columns:
            column = F.col(name)
            checks[(name, "enum")] = column.isNotNull() & ~column.cast("string").isin(symbols)
    return checks


def _any(conditions: list[Column]) -> Column:
    combined = conditions[0]
    for cond in conditions[1:]:
        combined = combined | cond
    return F.coalesce(combined, F.lit(False))


def _expected(contract: Contract, name: str, kind: IssueKind) -> str:
    if kind == "enum":
        return "[" + ", ".join(contract.enums[name]) + "]"
    return "non-null"


def _safe_record(record: dict[str, Any]) -> dict[str, Any]:
    """A record fit for a log: secret-like fields masked, long values cut."""
    safe: dict[str, Any] = {}
    for key, value in record.items():
        if is_secret_name(key):
            safe[key] = MASK
        elif isinstance(value, dict):
            safe[key] = _safe_record(value)
        else:
            text = value if isinstance(value, (int, float, bool)) or value is None else str(value)
            if isinstance(text, str) and len(text) > _MAX_VALUE_CHARS:
                text = text[:_MAX_VALUE_CHARS] + "..."
            safe[key] = text
    return safe


def validate(
    df: DataFrame,
    contract: Contract,
    dataset: str,
    *,
    pipeline: str | None = None,
    check_values: bool = True,
    ignore: tuple[str, ...] = (),
) -> None:
    """Check ``df`` against ``contract``; raise if it does not meet it.

    Args:
        df: the data (batch or streaming; values are checked for batch data only).
        contract: the registered schema.
        dataset: the catalog name, for the message.
        pipeline: the running pipeline, for the message and the log event.
        check_values: set ``False`` to check the structure only.
        ignore: columns the source adds besides the contract's fields (Kafka metadata).

    Raises:
        ContractViolationError: naming the dataset, schema, fields and offending records.
    """
    if ignore:
        df = df.drop(*ignore)
    issues = structure_issues(df.schema, contract.spark_schema)
    rows = 0
    sample: list[dict[str, Any]] = []
    if not issues and check_values and not df.isStreaming:
        issues, rows, sample = value_issues(df, contract)
    if issues:
        raise _violation(
            issues=issues,
            rows=rows,
            sample=sample,
            contract=contract,
            dataset=dataset,
            pipeline=pipeline,
        )


def guarded(
    df: DataFrame,
    contract: Contract,
    dataset: str,
    *,
    pipeline: str | None = None,
    check_values: bool = True,
    ignore: tuple[str, ...] = (),
    every_row: bool = False,
) -> DataFrame:
    """Check the structure of ``df`` now and guard its values while the data is processed.

    The structure costs nothing and is checked at once. The value checks of :func:`validate`
    (nulls in non-null fields, values outside enums) become a guard in the plan
    (:mod:`spark_etl.contracts.guards`): they run inside the job that writes the data, and a
    violation fails that job with the same :class:`ContractViolationError` that ``validate``
    raises, full report included.

    Args:
        df: the data (batch or streaming; values are guarded for batch data only).
        contract: the registered schema.
        dataset: the catalog name, for the message.
        pipeline: the running pipeline, for the message and the log event.
        check_values: set ``False`` to check the structure only.
        ignore: columns the source adds besides the contract's fields (Kafka metadata).
        every_row: check every row the source holds, even those a later filter drops (on load).

    Returns:
        ``df``, guarded.

    Raises:
        ContractViolationError: at once, for a structure that does not meet the contract.
    """
    checked = df.drop(*ignore) if ignore else df
    issues = structure_issues(checked.schema, contract.spark_schema)
    if issues:
        raise _violation(
            issues=issues, rows=0, sample=[], contract=contract, dataset=dataset, pipeline=pipeline
        )
    conditions = _value_conditions(checked, contract) if check_values else {}
    if not conditions or df.isStreaming:
        return df

    def explain() -> Exception:
        try:
            validate(df, contract, dataset, pipeline=pipeline, ignore=ignore)
        except ContractViolationError as exc:
            return exc
        return GuardFiredError(
            f"Dataset '{dataset}' broke contract '{contract.name}' while it was being written, "
            "but reading it again found no offending record: the source changed in between. "
            "Nothing was written; run again."
        )

    label = f"dataset '{dataset}', contract '{contract.name}'"
    return guard(df, label, list(conditions.values()), explain, every_row=every_row)


def _violation(
    *,
    issues: list[FieldIssue],
    rows: int,
    sample: list[dict[str, Any]],
    contract: Contract,
    dataset: str,
    pipeline: str | None,
) -> ContractViolationError:
    evolution = any(i.kind == "extra" for i in issues)
    report = {
        "event": "contract_violation",
        "pipeline": pipeline,
        "dataset": dataset,
        "schema": contract.name,
        "schema_file": str(contract.path),
        "schema_evolution": evolution,
        "fields": [asdict(i) for i in issues],
        "offending_rows": rows,
        "sample": sample,
    }
    where = f" in pipeline '{pipeline}'" if pipeline else ""
    lines = [
        f"Dataset '{dataset}'{where} does not meet contract '{contract.name}' ({contract.path}):"
    ]
    lines += [f"  - {i.describe()}" for i in issues]
    if rows:
        lines.append(f"  {rows} offending row(s); the first {len(sample)}:")
        lines += [f"    {record}" for record in sample]
    lines.append("Nothing was written. Fix the data or the contract, then run again.")
    logger.error(
        "Contract violation on dataset %s (schema %s)", dataset, contract.name, extra=report
    )
    return ContractViolationError("\n".join(lines), report)


def conform(df: DataFrame, contract: Contract) -> DataFrame:
    """The columns in the contract's order, widened to the contract's types (after ``validate``)."""
    columns = []
    for field in contract.spark_schema.fields:
        actual = df.schema[field.name].dataType
        column = F.col(field.name)
        columns.append(
            column
            if _same_type(actual, field.dataType)
            else column.cast(field.dataType).alias(field.name)
        )
    return df.select(*columns)
