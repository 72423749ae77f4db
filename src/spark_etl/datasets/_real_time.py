"""Real-Time Mode: a stateless Kafka -> Kafka query whose records go through as they arrive.

A sink's ``streaming.trigger: real-time`` (or ``{realTime: 1 minute}``: how long each of its
long-running batches lasts, after which Spark checkpoints the offsets and starts the next) runs
the query in Spark's Real-Time Mode: each task reads its Kafka partition and writes what it read
at once, instead of one micro-batch per trigger. Spark runs only some operators and sinks that
way, and finds out when the query starts, in the query's own thread; this module checks the
plan before that and refuses the query naming the step it cannot run (and the checks of a run,
``kedro check`` and ``kedro run``'s preflight, look for the same steps before anything runs):

- sources: Kafka streams, and static data joined by a broadcast join;
- operators: projections and filters (every ``select``/``withColumn``/``filter`` step, the
  contracts' and quality rules' guards), ``explode``, unions, watermarks, ``observe``;
- no aggregation, de-duplication, window function, sort, limit, repartition, shuffled join,
  state, or Python function (each needs a shuffle, state or a Python worker);
- sinks: Kafka only (spark-etl's other sinks write each micro-batch through ``foreachBatch``,
  which Real-Time Mode does not run); output mode ``update``.

Each task holds its partition's slot for the whole batch: the cluster needs a core per Kafka
partition read (Spark waits for them otherwise).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame

from spark_etl.datasets.exceptions import DatasetConfigError

#: The long-running batch of ``trigger: real-time``: the offsets are checkpointed this often,
#: and a stop waits at most this long for the batch in flight.
DEFAULT_BATCH = "1 minute"

#: Logical operators of an optimized plan that Real-Time Mode runs (Spark checks the physical
#: plan against its own list, ``RealTimeModeAllowlist``, once the query starts).
_RUNS = frozenset(
    {
        "Project",
        "Filter",
        "Generate",
        "Expand",
        "Union",
        "CollectMetrics",
        "EventTimeWatermark",
        "SubqueryAlias",
        "ResolvedHint",
        "LocalRelation",
        "LogicalRelation",
        "LogicalRDD",
        "DataSourceV2Relation",
        "Range",
        "DeserializeToObject",
        "SerializeFromObject",
        "MapElements",
        "MapPartitions",
        "AppendColumns",
        # analyzed plans only (the optimizer removes or inlines them): views and SQL's WITH
        "View",
        "WithCTE",
        "CTERelationDef",
        "CTERelationRef",
    }
)

#: What the user wrote, for the operators Real-Time Mode refuses (Spark's names otherwise).
_SAID = {
    "Aggregate": "an aggregation (group_by, aggregate, time_window, count, distinct)",
    "Deduplicate": "a de-duplication (dedup, dropDuplicates)",
    "Distinct": "a de-duplication (distinct)",
    "DeduplicateWithinWatermark": "a de-duplication (dedup, dropDuplicatesWithinWatermark)",
    "Window": "a window function (row_number, lag, rank over a window)",
    "WindowGroupLimit": "a window function (row_number, rank over a window)",
    "Sort": "a sort (orderBy, sort)",
    "GlobalLimit": "a limit",
    "LocalLimit": "a limit",
    "Repartition": "a repartition or coalesce",
    "RepartitionByExpression": "a repartition",
    "Join": "a join Spark would not broadcast",
    "FlatMapGroupsWithState": "state of its own (flatMapGroupsWithState)",
    "TransformWithState": "state of its own (transformWithState)",
    "BatchEvalPython": "a Python function (a UDF)",
    "ArrowEvalPython": "a Python function (a UDF)",
    "MapInPandas": "a Python function (mapInPandas)",
    "MapInArrow": "a Python function (mapInArrow)",
    "PythonMapInArrow": "a Python function (mapInArrow)",
    "StreamingRelation": "a stream that is not Kafka (a file or rate source)",
}
_SHOWN = 160  # characters of an operator's plan line in a message
_IDS = re.compile(r"#\d+L?")


@dataclass(frozen=True)
class Refusal:
    """An operator of the plan that Real-Time Mode does not run."""

    operator: str  # Spark's name of it
    said: str  # what it is, in the user's terms
    line: str  # its line in the plan, shortened


def is_real_time(trigger: dict[str, Any]) -> bool:
    """Whether the ``trigger`` keyword arguments run the query in Real-Time Mode."""
    return "realTime" in trigger


def refused_operators(data: DataFrame, *, optimized: bool = True) -> list[Refusal]:
    """The operators of ``data``'s optimized plan that Real-Time Mode does not run.

    ``optimized=False``: of its analyzed plan, for data with no rows (the preflight's, whose
    steps the optimizer would fold into an empty relation); joins are then left to the query's
    own check when it starts (on empty data, which side is the stream is not known).
    """
    state = data.sparkSession._jsparkSession.sessionState()
    # in bytes, as Spark reads the setting ("10MB", "10485760b"; -1: never)
    threshold = int(state.conf().autoBroadcastJoinThreshold()) if optimized else None
    analyzed = data._jdf.queryExecution().analyzed()
    found: list[Refusal] = []
    # Spark optimizes a stream's plan only once the query runs (QueryExecution refuses to): the
    # session's optimizer, run here on the analyzed plan, gives the plan it will run
    pending = [state.optimizer().execute(analyzed) if optimized else analyzed]
    while pending:
        node = pending.pop()
        name = str(node.nodeName())
        if not _runs(node, name, threshold):
            # without the stream's marker and the attributes' ids: "Aggregate [event_type], ..."
            line = _IDS.sub("", str(node.simpleString(8))).lstrip("~")
            shown = line if len(line) <= _SHOWN else line[: _SHOWN - 3] + "..."
            found.append(Refusal(name, _SAID.get(name, f"a {name} operator"), shown))
        children = node.children()
        pending.extend(children.apply(i) for i in range(children.size()))
    return found


def _runs(node: Any, name: str, threshold: int | None) -> bool:
    """Whether Real-Time Mode runs ``node``; ``threshold``: the broadcast threshold, ``None``
    to leave joins to the query's own check."""
    if name in _RUNS:
        return True
    if name == "StreamingRelationV2":  # a stream source: Kafka's runs, others do not
        return str(node.sourceName()).lower() == "kafka"
    if name == "Join":
        return threshold is None or _broadcast(node, threshold)
    if threshold is None and name in ("GlobalLimit", "LocalLimit"):
        return str(node.limitExpr().sql()) == "0"  # how the checks of a run make data empty
    return False


def _broadcast(join: Any, threshold: int) -> bool:
    """Whether Spark plans the stream's join with static data as a broadcast join: the static
    side is hinted (``broadcast()``), or its estimated size is within the threshold."""
    if "broadcast" in str(join.hint().toString()).lower():
        return True
    sides = [join.left(), join.right()]
    static = [side for side in sides if not side.isStreaming()]
    if len(static) != 1 or threshold < 0:
        return False
    return int(str(static[0].stats().sizeInBytes())) <= threshold


def unsupported(
    data: DataFrame, owner: str, output_mode: str, *, optimized: bool = True
) -> str | None:
    """Why Spark would stop ``data``'s Real-Time Mode query when it starts, and what to do;
    ``None`` when it runs (``optimized``: see :func:`refused_operators`)."""
    if output_mode == "complete":
        return (
            f"{owner}: trigger: real-time writes each record once as it passes (output mode "
            "update); output_mode: complete rewrites a result, which needs state. Remove "
            "output_mode, or use a micro-batch trigger (5 seconds)."
        )
    refused = refused_operators(data, optimized=optimized)
    if not refused:
        return None
    listed = "; ".join(f"{r.said}: {r.line}" for r in refused)
    return (
        f"{owner}: trigger: real-time cannot run this pipeline; Real-Time Mode runs stateless "
        f"steps only (select, derive, filter, contracts, explode, union, broadcast joins) and "
        f"the pipeline has {listed}. Move that step into a pipeline with a micro-batch trigger "
        "(trigger: 5 seconds), or set that trigger here."
    )


def refuse_unsupported(data: DataFrame, owner: str, output_mode: str) -> None:
    """Refuse a Real-Time Mode query that Spark would stop when it starts, naming why.

    Raises:
        DatasetConfigError: naming each operator Real-Time Mode does not run, or the output
            mode, and what to do.
    """
    said = unsupported(data, owner, output_mode)
    if said is not None:
        raise DatasetConfigError(said)


def refuse_sink(
    owner: str, writes: str = "each micro-batch with its own batch write (foreachBatch)"
) -> Exception:
    """The error for ``trigger: real-time`` on a sink other than Kafka, which ``writes`` (what
    Real-Time Mode does not run: ``foreachBatch``, Spark's file sink)."""
    return DatasetConfigError(
        f"{owner}: trigger: real-time is for KafkaDataset sinks only: this sink writes {writes}, "
        "which Spark's Real-Time Mode does not run. Use a micro-batch trigger (trigger: 1 "
        "second, or 0 seconds for the next batch at once), or write to a Kafka topic in real "
        "time and load it from there."
    )
