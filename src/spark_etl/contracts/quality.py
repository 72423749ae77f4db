"""Data-quality rules, run as a Kedro catalog validator in one pass of built-in Spark expressions.

Declared per dataset in ``conf/`` with Kedro's ``validator:`` key::

    user_events:
      type: spark_etl.datasets.S3Dataset
      ...
      validator:
        class: spark_etl.contracts.quality.QualityRules
        on: [save]
        options:
          dataset: user_events
          rules:
            - {rule: not_null, columns: [event_id, user_id], severity: fail}
            - {rule: allowed_values, column: event_type, values: [click, purchase], severity: drop}
            - {rule: range, column: amount, min: 0, severity: drop}
            - {rule: unique, columns: [event_id], severity: fail}
            - {rule: row_count, min: 1, severity: fail}
            - {rule: freshness, column: timestamp, max_age: 7d, severity: warn}
            - {rule: null_rate, column: amount, max: 0.95, severity: warn}

When the rules check data a spark-etl dataset is about to save and all of them are row rules of
severity ``warn`` or ``fail``, they cost no pass of their own: they run inside the job that writes
the data (see :meth:`QualityRules.validate`); ``options.dataset`` must then be the catalog entry's
name. On load, and through ``kedro.validation``'s API, the rules always run at once.

Severities: ``warn`` logs and goes on; ``drop`` removes the failing rows (row rules only), counts
them and sends them to the run's dead-letter queue (``spark_etl.contracts.deadletter``); ``fail``
halts the run with Kedro's ``DataValidationError`` (terminal: never retried). Every rule logs one
structured ``quality_check`` event with its outcome.
"""

from __future__ import annotations

import logging
import threading
import uuid
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from kedro.validation.exceptions import CheckFailure, DataValidationError
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pyspark.sql import Column, DataFrame, Observation
from pyspark.sql import functions as F

from spark_etl._durations import duration
from spark_etl._jvm import observed
from spark_etl.contracts import deadletter
from spark_etl.contracts.exceptions import GuardFiredError
from spark_etl.contracts.guards import guard

logger = logging.getLogger(__name__)

Severity = Literal["warn", "drop", "fail"]
_EXAMPLES = 5


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    severity: Severity = "fail"

    def label(self) -> str:
        """A short name for messages and log events."""
        raise NotImplementedError


class _RowRule(_Rule):
    """A rule each row passes or fails: it may drop the rows that fail."""

    def violation(self) -> Column:
        """True for a row that breaks the rule."""
        raise NotImplementedError

    def columns(self) -> list[str]:
        """The columns the rule reads."""
        raise NotImplementedError


class NotNull(_RowRule):
    """No null in any of ``columns``."""

    rule: Literal["not_null"]
    columns_: list[str] = Field(alias="columns", min_length=1)

    def label(self) -> str:
        return f"not_null({', '.join(self.columns_)})"

    def violation(self) -> Column:
        return _any([F.col(c).isNull() for c in self.columns_])

    def columns(self) -> list[str]:
        return self.columns_


class AllowedValues(_RowRule):
    """Every non-null value of ``column`` is one of ``values``."""

    rule: Literal["allowed_values"]
    column: str
    values: list[str | int | float | bool] = Field(min_length=1)

    def label(self) -> str:
        return f"allowed_values({self.column})"

    def violation(self) -> Column:
        col = F.col(self.column)
        return col.isNotNull() & ~col.isin(self.values)

    def columns(self) -> list[str]:
        return [self.column]


class Range(_RowRule):
    """Every non-null value of ``column`` lies within ``[min, max]`` (bounds optional)."""

    rule: Literal["range"]
    column: str
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _one_bound(self) -> Range:
        if self.min is None and self.max is None:
            raise ValueError("a range rule needs min, max or both")
        return self

    def label(self) -> str:
        return f"range({self.column}, {self.min}..{self.max})"

    def violation(self) -> Column:
        col = F.col(self.column)
        broken = [col < F.lit(self.min)] if self.min is not None else []
        broken += [col > F.lit(self.max)] if self.max is not None else []
        return col.isNotNull() & _any(broken)

    def columns(self) -> list[str]:
        return [self.column]


class _DatasetRule(_Rule):
    """A rule about the dataset as a whole: it may warn or fail, never drop."""

    @model_validator(mode="after")
    def _no_drop(self) -> _DatasetRule:
        if self.severity == "drop":
            raise ValueError(
                f"severity 'drop' needs a row rule; '{self.label()}' is about the "
                "whole dataset: use warn or fail"
            )
        return self


class Unique(_DatasetRule):
    """No two rows share the values of ``columns``."""

    rule: Literal["unique"]
    columns: list[str] = Field(min_length=1)

    def label(self) -> str:
        return f"unique({', '.join(self.columns)})"


class RowCount(_DatasetRule):
    """The number of rows lies within ``[min, max]`` (completeness)."""

    rule: Literal["row_count"]
    min: int | None = None
    max: int | None = None

    def label(self) -> str:
        return f"row_count({self.min}..{self.max})"


def _checked_duration(text: str) -> str:
    duration(text)  # raises, saying how to write one
    return text


class Freshness(_DatasetRule):
    """The newest value of the timestamp ``column`` is at most ``max_age`` old (``30m``, ``7d``)."""

    rule: Literal["freshness"]
    column: str
    max_age: Annotated[str, AfterValidator(_checked_duration)]

    def label(self) -> str:
        return f"freshness({self.column}, {self.max_age})"

    def max_delta(self) -> timedelta:
        """``max_age`` as a timedelta."""
        return duration(self.max_age)


class NullRate(_DatasetRule):
    """At most the fraction ``max`` (0..1) of the values of ``column`` are null."""

    rule: Literal["null_rate"]
    column: str
    max: float = Field(ge=0, le=1)

    def label(self) -> str:
        return f"null_rate({self.column} <= {self.max})"


Rule = Annotated[
    NotNull | AllowedValues | Range | Unique | RowCount | Freshness | NullRate,
    Field(discriminator="rule"),
]
_RULES = TypeAdapter(list[Rule])


def parse_rules(rules: list[dict[str, Any]], dataset: str) -> list[Rule]:
    """Validate rule declarations.

    Raises:
        DataValidationError: naming the dataset, the rule's position and the problem.
    """
    try:
        return _RULES.validate_python(rules)
    except ValidationError as exc:
        problems = "; ".join(
            f"rules[{'.'.join(str(p) for p in err['loc'])}]: {err['msg']}" for err in exc.errors()
        )
        raise DataValidationError(
            f"Quality rules of dataset '{dataset}' are invalid: {problems}. Rules: not_null, "
            "unique, allowed_values, range, row_count, freshness, null_rate; severities: warn, "
            "drop, fail.",
            dataset_name=dataset,
        ) from exc


class RuleResult(BaseModel):
    """The outcome of one rule on one dataset."""

    rule: str
    severity: Severity
    passed: bool
    failing: int = 0
    detail: str = ""
    column: str | None = None
    examples: list[Any] = Field(default_factory=list)


class QualityRules:
    """A Kedro validator (``validator: {class: spark_etl.contracts.quality.QualityRules}``).

    Args:
        rules: the rule declarations (see the module docstring).
        dataset: the catalog name, for messages and log events.
    """

    def __init__(self, rules: list[dict[str, Any]], dataset: str = "<dataset>") -> None:
        self.dataset = dataset
        self.rules = parse_rules(rules, dataset)

    def validate(self, data: DataFrame) -> DataFrame:
        """Check ``data``; return it, minus the rows a ``drop`` rule removed.

        When the data is about to be saved to a sink that honours guards (the run's
        :class:`QualityLedger` marked the save) and every rule is a row rule of
        severity ``warn`` or ``fail``, nothing runs here: the ``fail`` rules become a guard
        inside the job that writes the data (:mod:`spark_etl.contracts.guards`), the rows each
        rule breaks are counted by a Spark ``Observation`` of that job, and
        :meth:`QualityLedger.report` logs the outcomes once the save is done.
        Otherwise (a dataset rule or a ``drop`` rule) all rules run now, in one pass.

        Raises:
            DataValidationError: when a ``fail`` rule fails (from the write, for guarded rules).
        """
        self._check_columns(data)
        if data.isStreaming:
            return self._drop(data, [r for r in self._row_rules() if r.severity == "drop"])
        ledger = _active_ledger.get()
        if (
            ledger is not None
            and ledger.take_save_mark(self.dataset)
            and all(isinstance(r, _RowRule) and r.severity != "drop" for r in self.rules)
        ):
            return self._in_job(data, ledger)
        results = evaluate(data, self.rules)
        for result in results:
            _log(self.dataset, result)
        failed = [r for r in results if not r.passed and r.severity == "fail"]
        if failed:
            raise _failure(self.dataset, failed)
        failing = {r.rule for r in results if not r.passed and r.severity == "drop"}
        return self._drop(data, [r for r in self._row_rules() if r.label() in failing])

    def _in_job(self, data: DataFrame, ledger: QualityLedger) -> DataFrame:
        """Guard the ``fail`` rules and count every rule while the data is written."""
        fail: list[Rule] = [
            r for r in self.rules if isinstance(r, _RowRule) and r.severity == "fail"
        ]

        def explain() -> Exception:
            results = evaluate(data, fail)
            for result in results:
                _log(self.dataset, result)
            failed = [r for r in results if not r.passed]
            if failed:
                return _failure(self.dataset, failed)
            return GuardFiredError(
                f"Dataset '{self.dataset}' broke a quality rule while it was being written, but "
                "reading it again found no failing row: the source changed in between. Nothing "
                "was written; run again."
            )

        checked = guard(
            data,
            f"dataset '{self.dataset}', quality rules "
            + ", ".join(r.label() for r in self._row_rules() if r.severity == "fail"),
            [r.violation() for r in self._row_rules() if r.severity == "fail"],
            explain,
        )
        # Guarded rules pass if the write succeeds: only the warn rules need counting, and the
        # rows are the sink's own count of the save (QualityLedger.report), unless warn rules
        # need an observation anyway (each one costs the write a little).
        warn = [
            _aggregate(rule).alias(f"r{i}")
            for i, rule in enumerate(self.rules)
            if rule.severity == "warn"
        ]
        observation = Observation(f"spark_etl_quality_{uuid.uuid4().hex}") if warn else None
        if observation is not None:
            checked = checked.observe(observation, F.count(F.lit(1)).alias("_rows"), *warn)
        ledger.hold(self.dataset, _Pending(observation, data, self.rules))
        return checked

    def _row_rules(self) -> list[_RowRule]:
        return [r for r in self.rules if isinstance(r, _RowRule)]

    def _check_columns(self, data: DataFrame) -> None:
        have = set(data.columns)
        for rule in self.rules:
            missing = [c for c in _rule_columns(rule) if c not in have]
            if missing:
                raise DataValidationError(
                    f"Quality rule {rule.label()} of dataset '{self.dataset}' names column(s) "
                    f"{missing} that the data lacks (it has: {sorted(have)}).",
                    dataset_name=self.dataset,
                )

    def _drop(self, data: DataFrame, rules: list[_RowRule]) -> DataFrame:
        if not rules:
            return data
        bad = _any([r.violation() for r in rules])
        dropped = data.filter(bad)
        reason = "quality: " + ", ".join(r.label() for r in rules)
        deadletter.send(
            dropped,
            payload=deadletter.row_payload(dropped),
            error=reason,
            stage="quality",
            dataset=self.dataset,
        )
        return data.filter(~bad)


@dataclass(frozen=True)
class _Pending:
    """Rules counted by an observation of a write that has not been reported yet."""

    observation: Observation | None  # None: no warn rule, nothing counted but the rows
    data: DataFrame
    rules: list[Rule]


class QualityLedger:
    """A run's record of the saves whose rules ride in the write, and what those writes counted.

    The contract hook owns one: it names the sinks that honour guards when the catalog is
    created (:meth:`guard_sinks`), marks each save right before Kedro's catalog validates and
    writes the data (:meth:`expect_save`), and logs what the write counted once the save is done
    (:meth:`report`). Kedro calls the validator from inside the catalog's save, with no way to
    pass it anything, so the mark travels in a context variable that is local to the saving
    thread: a validation with no mark (a load, ``kedro.validation``'s API, a save outside a run)
    runs its rules at once.
    """

    def __init__(self, guarding: set[str] | None = None) -> None:
        self._guarding: set[str] = set(guarding or ())
        self._saving: set[str] = set()
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()

    def guard_sinks(self, datasets: set[str]) -> None:
        """Name the datasets whose sinks honour guards (spark-etl's: they abort or pre-check).

        Their rules may run inside the write job; any other sink (a ``MemoryDataset``, a dataset
        of kedro-datasets) could be half-written by a guard that fires, so its rules run before
        the save.
        """
        with self._lock:
            self._guarding = set(datasets)
            self._saving.clear()
            self._pending.clear()

    def expect_save(self, dataset: str) -> None:
        """Say that the next validation of ``dataset``'s rules, in this thread, checks data
        about to be saved. The mark is used once."""
        with self._lock:
            if dataset in self._guarding:
                self._saving.add(dataset)
        _active_ledger.set(self)

    def take_save_mark(self, dataset: str) -> bool:
        """Whether a save of ``dataset`` is under way (and the mark is used up)."""
        with self._lock:
            if dataset in self._saving:
                self._saving.discard(dataset)
                return True
            return False

    def hold(self, dataset: str, pending: _Pending) -> None:
        """Keep what the write of ``dataset`` will count until :meth:`report`."""
        with self._lock:
            # One save of a dataset at a time: a new one replaces what a failed one left.
            self._pending[dataset] = pending

    def report(self, dataset: str, rows: int | None = None) -> list[RuleResult]:
        """Log the outcome of the rules counted while ``dataset`` was written; return them.

        Called once the save is done, with the rows the save wrote as the sink counted them. A
        write that never ran (it failed) has nothing to report; its guard raised the failure.
        """
        with self._lock:
            entry = self._pending.pop(dataset, None)
            self._saving.discard(dataset)
        if entry is None:
            return []
        metrics = {} if entry.observation is None else observed(entry.observation)
        total = rows if metrics is None or "_rows" not in metrics else int(metrics["_rows"])
        if metrics is None or total is None:
            return []
        results = [
            _result(entry.data, rule, metrics.get(f"r{i}", 0), total)
            for i, rule in enumerate(entry.rules)
        ]
        for result in results:
            _log(dataset, result)
        return results


_active_ledger: ContextVar[QualityLedger | None] = ContextVar(
    "spark_etl_quality_ledger", default=None
)


def _rule_columns(rule: Rule) -> list[str]:
    if isinstance(rule, _RowRule):
        return rule.columns()
    if isinstance(rule, Unique):
        return rule.columns
    return [rule.column] if isinstance(rule, (Freshness, NullRate)) else []


def evaluate(data: DataFrame, rules: list[Rule]) -> list[RuleResult]:
    """Every rule's outcome, from one aggregation job (plus a small one per failed row rule)."""
    aggs = [F.count(F.lit(1)).alias("_rows")]
    for i, rule in enumerate(rules):
        aggs.append(_aggregate(rule).alias(f"r{i}"))
    row = data.agg(*aggs).first()
    assert row is not None  # a global aggregation yields one row
    total = int(row["_rows"])
    return [_result(data, rule, row[f"r{i}"], total) for i, rule in enumerate(rules)]


def _aggregate(rule: Rule) -> Column:
    if isinstance(rule, _RowRule):
        return F.sum(F.when(rule.violation(), 1).otherwise(0))
    if isinstance(rule, Unique):
        return F.count(F.lit(1)) - F.count_distinct(F.struct(*rule.columns))
    if isinstance(rule, Freshness):
        return F.unix_timestamp(F.current_timestamp()) - F.unix_timestamp(F.max(rule.column))
    if isinstance(rule, NullRate):
        return F.sum(F.when(F.col(rule.column).isNull(), 1).otherwise(0))
    return F.lit(0)  # row_count reads the total


def _result(data: DataFrame, rule: Rule, value: Any, total: int) -> RuleResult:
    if isinstance(rule, _RowRule):
        failing = int(value or 0)
        detail, column = f"{failing} of {total} rows", rule.columns()[0]
        if failing and isinstance(rule, NotNull) and len(rule.columns()) > 1:
            by_column = _nulls_by_column(data, rule.columns())
            column = next(iter(by_column), column)  # the column with the nulls, not the first
            detail += " (null in " + ", ".join(f"{c}: {n}" for c, n in by_column.items()) + ")"
        return _outcome(
            rule,
            failing == 0,
            failing,
            detail,
            column=column,
            examples=_examples(data, rule) if failing else [],
        )
    if isinstance(rule, Unique):
        dupes = int(value or 0)
        return _outcome(rule, dupes == 0, dupes, f"{dupes} duplicate row(s) on {rule.columns}")
    if isinstance(rule, RowCount):
        ok = (rule.min is None or total >= rule.min) and (rule.max is None or total <= rule.max)
        return _outcome(rule, ok, 0 if ok else 1, f"{total} rows")
    if isinstance(rule, Freshness):
        ok = value is not None and value <= rule.max_delta().total_seconds()
        age = "no values" if value is None else f"newest is {timedelta(seconds=int(value))} old"
        return _outcome(
            rule, ok, 0 if ok else 1, f"{age}; allowed {rule.max_age}", column=rule.column
        )
    assert isinstance(rule, NullRate)
    nulls = int(value or 0)
    rate = nulls / total if total else 0.0
    return _outcome(
        rule,
        rate <= rule.max,
        0 if rate <= rule.max else nulls,
        f"null rate {rate:.3g} ({nulls} of {total})",  # 0.0005 is not 0.000
        column=rule.column,
    )


def _outcome(
    rule: Rule,
    passed: bool,
    failing: int,
    detail: str,
    *,
    column: str | None = None,
    examples: list[Any] | None = None,
) -> RuleResult:
    return RuleResult(
        rule=rule.label(),
        severity=rule.severity,
        passed=passed,
        failing=failing,
        detail=detail,
        column=column,
        examples=examples or [],
    )


def _nulls_by_column(data: DataFrame, columns: list[str]) -> dict[str, int]:
    """The nulls each column holds, for the columns that hold any (one job, on a failure only)."""
    counts = data.agg(
        *[F.sum(F.col(c).isNull().cast("long")).alias(f"n{i}") for i, c in enumerate(columns)]
    ).first()
    found = {c: int(counts[f"n{i}"] or 0) for i, c in enumerate(columns)} if counts else {}
    return {c: n for c, n in found.items() if n}


def _examples(data: DataFrame, rule: _RowRule) -> list[Any]:
    rows = data.filter(rule.violation()).select(*rule.columns()).limit(_EXAMPLES).collect()
    return [row[0] if len(row) == 1 else tuple(row) for row in rows]


def _any(conditions: list[Column]) -> Column:
    combined = conditions[0]
    for cond in conditions[1:]:
        combined = combined | cond
    return F.coalesce(combined, F.lit(False))


def _log(dataset: str, result: RuleResult) -> None:
    level = logging.INFO if result.passed else logging.WARNING
    logger.log(
        level,
        "Quality rule %s on %s: %s (%s)",
        result.rule,
        dataset,
        "passed" if result.passed else "failed",
        result.detail,
        extra={
            "event": "quality_check",
            "dataset": dataset,
            **result.model_dump(),
            "checked_at": datetime.now(UTC).isoformat(),
        },
    )


def _failure(dataset: str, failed: list[RuleResult]) -> DataValidationError:
    lines = [f"Dataset '{dataset}' failed {len(failed)} quality rule(s) of severity 'fail':"]
    lines += [
        f"  - {r.rule}: {r.detail}" + (f"; e.g. {r.examples}" if r.examples else "") for r in failed
    ]
    lines.append("Nothing was written. Fix the data, or relax the rule in conf/.")
    failures = [
        CheckFailure(
            message=r.detail,
            check=f"{r.rule}: {r.detail}",
            column=r.column,
            failure_count=max(r.failing, 1),
            failure_examples=r.examples,
        )
        for r in failed
    ]
    return DataValidationError("\n".join(lines), dataset_name=dataset, failures=failures)
