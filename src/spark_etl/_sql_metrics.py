"""Private helpers that read what Spark's SQL status store recorded of a write: the rows each
scan of the job returned, the rows the file write wrote, the operators that change how many rows
flow through.

A save runs its jobs under a job description with a unique mark (:func:`described_jobs`; the
Spark UI shows it too), and the SQL executions carrying that description are read back once the
save is done. The numbers are Spark's own plan metrics: no counting pass, no counter in the job.
Reading them never fails a save: an unreadable store gives no numbers.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from py4j.protocol import Py4JError
from pyspark.sql import SparkSession

logger = logging.getLogger(__name__)

_JOB_DESCRIPTION = "spark.job.description"
#: How many of the latest SQL executions are searched for a save's.
_RECENT_EXECUTIONS = 30
_OUTPUT_ROWS = "number of output rows"
#: The node of a file write in Spark's SQL plans.
_FILE_WRITE_NODE = "InsertIntoHadoopFsRelationCommand"
#: Physical operators whose output can have another number of rows than their input, and what
#: they do in words. A filter counts only if it dropped rows: one made of guards (``raise_error``
#: when a rule breaks) passes every row or fails the job.
_COUNT_CHANGING = {
    "Aggregate": "aggregates",
    "Join": "joins",
    "Filter": "filters",
    "Window": "windows",
    "Generate": "explodes",
    "Expand": "expands",
    "Limit": "limits",
    "Sample": "samples",
    "Union": "unions",
    "Deduplicate": "deduplicates",
    "Intersect": "intersects",
    "Except": "subtracts",
}


@dataclass(frozen=True)
class PlanNode:
    """One operator of an executed plan: its name, its description and the rows it output
    (``None``: the operator does not count them)."""

    name: str
    desc: str
    rows: int | None
    #: the rows its inputs gave it, where Spark counted them (``None``: not known)
    rows_in: int | None = None
    #: its metrics that are counts, by the name Spark shows (``number of source rows``)
    counts: Mapping[str, int] = field(default_factory=dict)

    @property
    def is_scan(self) -> bool:
        """Whether the operator reads a source (a file scan, a JDBC or Kafka relation)."""
        return self.name.startswith(("Scan ", "BatchScan")) and "ExistingRDD" not in self.name

    @property
    def count_change(self) -> str | None:
        """What the operator does, in a word, if it may output another number of rows than it
        gets (``None``: one row out per row in)."""
        if self.is_scan:
            return None
        if self.name == "Filter" and self.rows is not None and self.rows == self.rows_in:
            return None
        return next((said for op, said in _COUNT_CHANGING.items() if op in self.name), None)


@dataclass(frozen=True)
class WriteJob:
    """What Spark recorded of the job that wrote a save's data (the last of its executions that
    read a source; an earlier one is a pass of checks), and the commands the save ran."""

    nodes: tuple[PlanNode, ...] = field(default_factory=tuple)
    #: the command operators (``Execute MergeIntoCommand``...) of all the save's executions
    commands: tuple[PlanNode, ...] = field(default_factory=tuple)

    @property
    def scans(self) -> list[PlanNode]:
        """The operators that read sources, with the rows each returned."""
        return [n for n in self.nodes if n.is_scan]

    @property
    def rows_in(self) -> int | None:
        """The rows the job's scans returned, all sources together (``None``: not counted)."""
        counted = [n.rows for n in self.scans if n.rows is not None]
        return sum(counted) if counted else None

    @property
    def count_changes(self) -> list[str]:
        """What the job does between its sources and the write that may change the number of
        rows (``aggregates``, ``joins``, ``filters``...), in plan order."""
        said = [n.count_change for n in self.nodes]
        return list(dict.fromkeys(s for s in said if s is not None))

    def file_rows_written(self) -> int | None:
        """The rows a file write wrote, by its write node."""
        for node in self.nodes:
            if _FILE_WRITE_NODE in node.name and node.rows is not None:
                return node.rows
        return None

    def command_count(self, command: str, metric: str) -> int | None:
        """A count the command ``command`` (``MergeIntoCommand``) recorded, by the name Spark
        shows it under (``None``: the save ran no such command, or it did not count that)."""
        for node in self.commands:
            if node.name == f"Execute {command}" and metric in node.counts:
                return node.counts[metric]
        return None


@contextmanager
def described_jobs(spark: SparkSession, description: str) -> Iterator[str]:
    """Run what the block starts under the job description ``description`` plus a unique mark
    (shown by the Spark UI; :func:`write_job` finds the SQL executions by it)."""
    sc = spark.sparkContext
    before = sc.getLocalProperty(_JOB_DESCRIPTION)
    marked = f"{description} [{uuid.uuid4().hex[:12]}]"
    sc.setJobDescription(marked)
    try:
        yield marked
    finally:
        sc._jsc.setLocalProperty(_JOB_DESCRIPTION, before)


def write_job(spark: SparkSession, description: str) -> WriteJob | None:
    """The write job run under ``description``: the last of its SQL executions that read a
    source, else the last one; ``None`` if Spark kept none or its store cannot be read."""
    try:
        executions = _executions(spark, description)
    except Py4JError as exc:
        logger.warning("Could not read the metrics of '%s' from Spark: %s", description, exc)
        return None
    if not executions:
        return None
    reading = [e for e in executions if any(n.is_scan for n in e)]
    commands = tuple(n for e in executions for n in e if n.name.startswith("Execute "))
    return WriteJob(tuple((reading or executions)[-1]), commands)


def _executions(spark: SparkSession, description: str) -> list[list[PlanNode]]:
    jsc = spark.sparkContext._jsc.sc()
    # The status store is fed by Spark's listener bus, behind the job's own completion.
    jsc.listenerBus().waitUntilEmpty()
    store = spark._jsparkSession.sharedState().statusStore()
    count = int(store.executionsCount())
    recent = store.executionsList(max(count - _RECENT_EXECUTIONS, 0), _RECENT_EXECUTIONS)
    found: list[list[PlanNode]] = []
    executions = recent.iterator()
    while executions.hasNext():
        execution = executions.next()
        if execution.description() == description:
            found.append(_nodes(store, execution.executionId()))
    return found


def _nodes(store: Any, execution_id: Any) -> list[PlanNode]:
    values = _scala_map(store.executionMetrics(execution_id))
    graph = store.planGraph(execution_id)
    found: dict[int, tuple[str, str, int | None]] = {}
    counts: dict[int, dict[str, int]] = {}
    nodes = graph.allNodes().iterator()
    while nodes.hasNext():
        node = nodes.next()
        counted = counts.setdefault(int(node.id()), {})
        metrics = node.metrics().iterator()
        while metrics.hasNext():
            metric = metrics.next()
            value = _count(values.get(int(metric.accumulatorId())))
            if value is not None:
                counted[str(metric.name())] = value
        rows = counted.get(_OUTPUT_ROWS)
        found[int(node.id())] = (str(node.name()).strip(), str(node.desc()), rows)
    children: dict[int, list[int]] = {}
    edges = graph.edges().iterator()
    while edges.hasNext():
        edge = edges.next()  # from a child to the operator it feeds
        children.setdefault(int(edge.toId()), []).append(int(edge.fromId()))

    def rows_out(node_id: int, depth: int = 0) -> int | None:
        """The rows ``node_id`` gave, or those of the operators below it if it counts none (a
        projection passes each row on)."""
        name, _, rows = found[node_id]
        if rows is not None or depth > 20:
            return rows
        below = children.get(node_id, [])
        if not below or _may_change_count(name):
            return None
        counted = [rows_out(child, depth + 1) for child in below]
        return None if any(c is None for c in counted) else sum(c for c in counted if c)

    def rows_in(node_id: int) -> int | None:
        below = children.get(node_id, [])
        counted = [rows_out(child) for child in below]
        if not below or any(c is None for c in counted):
            return None
        return sum(c for c in counted if c is not None)

    return [
        PlanNode(name, desc, rows, rows_in(i), counts[i]) for i, (name, desc, rows) in found.items()
    ]


def _count(value: str | None) -> int | None:
    """A metric's value if it is a count (``1,539``; not a time or a size with its unit)."""
    if value is None:
        return None
    digits = value.replace(",", "")
    return int(digits) if digits.isdigit() else None


def _may_change_count(name: str) -> bool:
    return any(op in name for op in _COUNT_CHANGING)


def _scala_map(values: Any) -> dict[int, str]:
    found: dict[int, str] = {}
    pairs = values.iterator()
    while pairs.hasNext():
        pair = pairs.next()
        found[int(pair._1())] = str(pair._2())
    return found
