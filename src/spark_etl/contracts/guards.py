"""Checks that ride along the job that reads or writes the data: no Spark pass of their own.

A *guard* is a filter of built-in expressions put into the plan: for each row it evaluates the
check's conditions and, on the first row that breaks one, fails the task with Spark's
``raise_error`` and a marker naming the guard. Passing rows cost one expression each; the data is
read once, by the job that writes it.

A sink that commits atomically (a staging table, a file committer in append mode) lets the guard
fail its own write: the job aborts and nothing is committed. Any other sink runs the guards first,
in one pass of their own (:func:`is_guarded` tells it whether it must).

When a guard fires, :func:`explanation` turns the Spark error back into the check's own error with
the whole report (offending row counts per field or rule, sample records): the guard's
*explainer* runs the full check on the data as it was before the guard, which costs a pass, but only
on the failure path. The marker carries an id, never data: no record value reaches Spark's logs.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence

from kedro.validation.exceptions import DataValidationError
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from spark_etl._jvm import error_text, java_error_chain
from spark_etl.contracts.exceptions import ContractViolationError, GuardFiredError
from spark_etl.exceptions import causes

#: The text that marks a guard's error in Spark's exceptions and in a query plan.
MARK = "spark-etl-guard"
_FIRED = re.compile(r"\[" + MARK + r" ([0-9a-f]{12})\] ([^\n]*?)(?: SQLSTATE|$|\n)", re.MULTILINE)
_AT = " at "  # between a guard's label and where it fired
_KEEP = 1024  # explainers kept (each holds a plan): far more than one run's datasets

Explainer = Callable[[], Exception]
#: An explainer of a guard with a ``where``: it gets where the guard fired (no data is re-read).
LocatedExplainer = Callable[[str], Exception]
#: The errors of the checks themselves: an error that holds one is explained already.
CHECK_ERRORS = (ContractViolationError, GuardFiredError, DataValidationError)
_explainers: OrderedDict[str, tuple[str, Explainer | LocatedExplainer, bool]] = OrderedDict()
_lock = threading.Lock()


def guard(
    data: DataFrame,
    label: str,
    conditions: Sequence[Column],
    explain: Explainer | LocatedExplainer,
    *,
    every_row: bool = False,
    where: Column | None = None,
) -> DataFrame:
    """``data`` with a guard that fails the job on the first row meeting any of ``conditions``.

    Args:
        data: the batch DataFrame to guard.
        label: names the check in the Spark error (no data: Spark logs it).
        conditions: a row breaks the check where one of them is true (null counts as false).
        explain: builds the check's own error with the full report; called only when the guard
            fires, from :func:`explanation`.
        every_row: keep filters that come later in the plan from being pushed beneath the guard
            (into the scan: Avro, Parquet and JDBC skip rows they exclude), so that every row the
            source holds is checked, not just the rows the pipeline keeps. Use it on load.
        where: a text naming where the first breaking row is (a source position such as a Kafka
            offset, never a value), put into the error; ``explain`` is then called with it and
            re-reads nothing (for a stream, which cannot be read again).

    Returns:
        The same rows, guarded.
    """
    if not conditions:
        return data
    gid = uuid.uuid4().hex[:12]
    with _lock:
        _explainers[gid] = (label, explain, where is not None)
        while len(_explainers) > _KEEP:
            _explainers.popitem(last=False)
    broken = conditions[0]
    for other in conditions[1:]:
        broken = broken | other
    # One branch that raises, naming only the guard: its explainer finds which check broke and
    # where. (A branch per condition makes code too large for the JVM to compile: 2x slower.)
    # A non-deterministic "else" stops the optimiser from pushing later filters below the guard
    # or merging them into it; SPARK_PARTITION_ID() is the cheapest one (a task constant).
    message = F.lit(f"[{MARK} {gid}] {label}")
    if where is not None:
        message = F.concat(message, F.lit(_AT), where)
    condition = F.when(F.coalesce(broken, F.lit(False)), F.raise_error(message)).otherwise(
        F.spark_partition_id() >= 0 if every_row else F.lit(True)
    )
    return data.filter(condition)


def is_guarded(data: DataFrame) -> bool:
    """Whether the plan of ``data`` holds a guard (a sink that cannot abort must run it first)."""
    return MARK in data._jdf.queryExecution().logical().toString()


def explanation(error: BaseException) -> Exception | None:
    """The check's own error for an error in which a guard fired, else ``None``.

    Args:
        error: what a Spark action raised, possibly wrapped (Kedro's ``DatasetError``, a
            strategy's own error): its causes and the Java exceptions behind them are read.
    """
    texts = []
    for cause in causes(error):
        if isinstance(cause, CHECK_ERRORS):
            return None  # explained already
        texts.append(error_text(cause))
    match = _FIRED.search("\n".join(texts))
    if match is None:
        return None
    with _lock:
        entry = _explainers.pop(match.group(1), None)
    label = match.group(2).strip()
    if entry is None:
        return GuardFiredError(
            f"A data check ({label}) failed, but its report is gone (more than {_KEEP} checks "
            "were set up since). Run the pipeline again to see it."
        )
    _, explain, located = entry
    try:
        if located:
            return explain(label.rpartition(_AT)[2])  # type: ignore[call-arg]
        return explain()  # type: ignore[call-arg]
    except Exception as exc:  # the check failed either way: say so
        chain = java_error_chain(exc)  # py4j's own message says only which call failed
        reason = ((chain[0] if chain else str(exc)).strip().splitlines() or ["?"])[0][:300]
        return GuardFiredError(
            f"A data check ({label}) failed, and reading the data again for its report failed "
            f"too: {reason}. Nothing was written; run again once the source is readable."
        )


def run_guards(data: DataFrame) -> None:
    """Evaluate every guard in the plan of ``data`` now, in one pass that writes nothing.

    Filters are kept by column pruning, so a count reads only the columns the guards check. A
    guard that fires is raised as its check's own error.
    """
    try:
        data.count()
    except Exception as exc:
        explained = explanation(exc)
        if explained is None:
            raise
        raise explained from exc
