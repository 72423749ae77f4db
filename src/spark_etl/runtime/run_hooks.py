"""The run's structured log: start and end, nodes, dataset saves, dead letters, final status.

Also wires the run's parts that need the Kedro context: the retry and timeout settings and the
dead-letter sink of each pipeline, all from ``conf/<env>/runtime.yml``::

    dead_letter:
      default: dead_letters            # a catalog dataset with metadata.schema: dead_letter
      pipelines:
        batch_kafka_s3: kafka_dead_letters

The run ends with status ``success``, ``partial`` (some records went to the dead-letter queue) or
``failed``; the ``run_end`` event carries the records each dataset read and received, the dead
letters, and whether each sink's counts add up (:mod:`spark_etl.runtime.run_counts`); its message
is the same as a table.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kedro.framework.hooks import hook_impl
from pyspark.sql import DataFrame, Observation
from pyspark.sql import functions as F

from spark_etl._jvm import current_session
from spark_etl._validation import validated
from spark_etl.contracts import deadletter
from spark_etl.runtime import logs, progress, retry, streaming, timeouts
from spark_etl.runtime.classify import classify
from spark_etl.runtime.context import RunContext, run_name
from spark_etl.runtime.failure import explain, headline
from spark_etl.runtime.run_counts import Reconciliation, RunCounts
from spark_etl.runtime.runtime_settings import DatasetPerPipeline, runtime_config

if TYPE_CHECKING:
    from kedro.framework.context import KedroContext
    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline
    from kedro.pipeline.node import Node

logger = logging.getLogger("spark_etl.metrics")


class RunHooks:
    """Structured events for every run, and the run's retry and dead-letter settings."""

    def __init__(
        self, declared_retry: Callable[[], dict[str, dict[str, Any]]] | None = None
    ) -> None:
        """Args:
        declared_retry: gives the ``retry`` sections of pipelines declared in configuration;
            ``runtime.yml``'s per-pipeline entries win over them.
        """
        self._declared_retry = declared_retry
        #: the run that goes on and its settings: the log filter and the runner read it
        self.run_context = RunContext()
        self._catalog: CatalogProtocol | None = None
        self._dead_letter = DatasetPerPipeline()
        self._started = 0.0
        self._node_started: dict[str, float] = {}
        self._saved: Counter[str] = Counter()
        self._counts = RunCounts()
        self._dead: Counter[str] = Counter()
        self._progress: progress.ProgressReporter | None = None

    @hook_impl(tryfirst=True)
    def after_context_created(self, context: KedroContext) -> None:
        """Set up the logs; read ``runtime.yml`` (a mistake stops the run before Spark starts)."""
        with contextlib.suppress(KeyError):
            logs.register_secrets_in(context.config_loader["credentials"], under_secret_key=False)
        self.run_context.log_file = logs.install(
            self.run_context, project_path=context.project_path
        )
        raw = runtime_config(context)
        retry_conf = dict(raw.get("retry") or {})
        if self._declared_retry is not None:
            retry_conf["pipelines"] = {
                **self._declared_retry(),
                **(retry_conf.get("pipelines") or {}),
            }
        self.run_context.retry = retry.parse_retry_settings(retry_conf)
        self.run_context.timeouts = timeouts.parse_timeout_settings(raw.get("timeouts"))
        self.run_context.max_duration_s = streaming.max_duration_s(raw.get("streaming"))
        self._dead_letter = validated(
            DatasetPerPipeline,
            raw.get("dead_letter"),
            key="dead_letter",
            what="dead_letter settings",
            source="runtime.yml",
        )

    @hook_impl
    def after_catalog_created(self, catalog: CatalogProtocol) -> None:
        """Keep the catalog: the dead-letter sink and the save metrics use it."""
        self._catalog = catalog

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline) -> None:
        """Start the run's context, install its dead-letter sink, log ``run_start``."""
        name = run_name(run_params)
        self.run_context.start(name, str(run_params.get("run_id")))
        spark = current_session()
        if spark is not None:
            streaming.ensure_listener(spark)
        self._started = time.perf_counter()
        self._saved.clear()
        self._counts.start(pipeline)
        self._dead.clear()
        self._progress = progress.terminal_progress(node=lambda: self.run_context.node)
        if self._progress is not None:
            self._progress.start()
        sink_name = self._dead_letter.for_pipeline(name)
        deadletter.install(
            self._sink(sink_name) if sink_name else None,
            pipeline=name,
            run_id=str(run_params.get("run_id")),
        )
        logger.info(
            "Run of %s started",
            name,
            extra={
                "event": "run_start",
                "runner": _runner_name(run_params.get("runner")),
                "env": run_params.get("env"),
                "dead_letter_sink": sink_name,
            },
        )

    def _sink(self, dataset: str) -> deadletter.DeadLetterSink:
        def write(letters: DataFrame) -> int:
            assert self._catalog is not None  # after_catalog_created ran before any node
            observation = Observation(f"dead_letters_{time.monotonic_ns()}")
            self._catalog.save(dataset, letters.observe(observation, F.count(F.lit(1)).alias("n")))
            count = int(observation.get.get("n", 0))
            self._dead[dataset] += count
            logger.log(
                logging.WARNING if count else logging.INFO,
                "%d record(s) sent to the dead-letter queue %s",
                count,
                dataset,
                extra={"event": "dead_letter", "records": count, "sink": dataset},
            )
            return count

        return write

    @hook_impl
    def before_dataset_loaded(self, node: Node) -> None:
        """Name the node whose inputs Kedro loads (before it runs) in the events of the load."""
        self.run_context.node = node.name

    @hook_impl
    def before_node_run(self, node: Node) -> None:
        """Mark the node as running."""
        self.run_context.node = node.name
        self._node_started[node.name] = time.perf_counter()

    @hook_impl
    def after_node_run(self, node: Node) -> None:
        """Log ``node_end`` with the node's duration (the node stays current while Kedro saves
        its outputs)."""
        duration = time.perf_counter() - self._node_started.pop(node.name, time.perf_counter())
        logger.info(
            "Node %s finished in %.2f s",
            node.name,
            duration,
            extra={
                "event": "node_end",
                "duration_s": round(duration, 3),
                "inputs": node.inputs,
                "outputs": node.outputs,
            },
        )

    @hook_impl
    def on_node_error(self, error: Exception, node: Node) -> None:
        """Log ``node_failed`` with the kind of error."""
        said = headline(error)  # the whole error, traceback included, ends the run's log file
        logger.error(
            "Node %s failed: %s",
            node.name,
            said,
            extra={
                "event": "node_failed",
                "error_kind": classify(error),
                "error": said,
                "failed_node": node.name,
            },
        )

    @hook_impl
    def after_dataset_loaded(self, dataset_name: str) -> None:
        """Remember the dataset: what it read is logged at the end of the run."""
        self._counts.on_load(dataset_name)

    def _reads(self) -> dict[str, dict[str, int]]:
        """``dataset_loaded`` for each source whose records read are known, once the jobs that
        read them have run."""
        reads = self._counts.reads(self._catalog)
        for name, counts in reads.items():
            logger.info(
                "Read %s record(s) from %s%s",
                counts.get("records"),
                name,
                f" ({counts['tombstones']} tombstone(s))" if counts.get("tombstones") else "",
                extra={"event": "dataset_loaded", "dataset": name, **counts},
            )
        return reads

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any, node: Node) -> None:
        """Log ``dataset_saved`` with the records written (counted while writing)."""
        dataset = self._catalog.get(dataset_name) if self._catalog is not None else None
        metrics = getattr(dataset, "last_save", None)
        if metrics is None:
            return
        if metrics.records is not None:
            self._saved[dataset_name] += metrics.records
        self._counts.on_save(dataset_name, metrics, self._catalog)
        rate = (
            metrics.records / metrics.duration_s if metrics.records and metrics.duration_s else None
        )
        logger.info(
            "Saved %s record(s) to %s (%s) in %.2f s",
            metrics.records,
            dataset_name,
            metrics.write_mode,
            metrics.duration_s,
            extra={
                "event": "dataset_saved",
                "dataset": dataset_name,
                "records": metrics.records,
                "duration_s": metrics.duration_s,
                "records_per_s": round(rate, 1) if rate else None,
                "write_mode": metrics.write_mode,
            },
        )

    @hook_impl
    def after_pipeline_run(self) -> None:
        """Log ``run_end``: ``success``, or ``partial`` when records were dead-lettered."""
        self._end("partial" if sum(self._dead.values()) else "success", None)

    @hook_impl
    def on_pipeline_error(self, error: Exception) -> None:
        """Log ``run_end`` with status ``failed`` and the kind of the error."""
        self._end("failed", error)

    def _end(self, status: str, error: Exception | None) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        duration = time.perf_counter() - self._started
        reads = self._reads()
        reconciled = self._counts.reconciliations(deadletter.rejected(), self._catalog)
        for unexplained in (r for r in reconciled if r.unexplained):
            logger.warning(
                "Records unaccounted for: %s",
                unexplained.line(),
                extra={"event": "reconciliation_failed", **unexplained.as_dict()},
            )
        extra: dict[str, Any] = {
            "event": "run_end",
            "status": status,
            "duration_s": round(duration, 3),
            "records_saved": dict(self._saved),
            "writes": {name: dict(write) for name, write in self._counts.writes.items()},
            "reads": reads,
            "dead_letters": dict(self._dead),
            "rejected": deadletter.rejected(),
            "reconciliation": [r.as_dict() for r in reconciled],
            "log_file": str(self.run_context.log_file) if self.run_context.log_file else None,
        }
        if error is not None:
            extra.update(
                error_kind=classify(error),
                error=headline(error),
                # the whole explanation (a few lines), and the node that was running: for the
                # failure's notifications
                failure=explain(error).message,
                failed_node=self.run_context.node,
            )
        level = logging.ERROR if status == "failed" else logging.INFO
        table = summary_table(reads, self._counts.writes, deadletter.rejected(), reconciled)
        logger.log(level, "Run ended: %s in %.1f s%s", status, duration, table, extra=extra)
        deadletter.uninstall()
        self.run_context.end()


def summary_table(
    reads: dict[str, dict[str, int]],
    writes: dict[str, dict[str, Any]],
    rejected: dict[str, int],
    reconciled: list[Reconciliation],
) -> str:
    """The run's datasets as an aligned table (records read and written, write mode, write
    time, records rejected), then how each sink's counts add up; empty if nothing was read or
    written."""
    names = [*reads, *(n for n in writes if n not in reads)]
    if not names:
        return ""
    rows = [("dataset", "read", "written", "mode", "time", "rejected")]
    for name in names:
        write = writes.get(name)
        read = reads.get(name, {}).get("records")
        written = None if write is None else write["records"]
        rows.append(
            (
                name,
                "-" if read is None else f"{read:,}",
                "-" if write is None else ("?" if written is None else f"{written:,}"),
                "-" if write is None else str(write["write_mode"]),
                "-" if write is None else f"{write['duration_s']:.1f} s",
                f"{rejected[name]:,}" if rejected.get(name) else "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            cell.ljust(widths[i]) if i in {0, 3} else cell.rjust(widths[i])
            for i, cell in enumerate(row)
        ).rstrip()
        for row in rows
    ]
    lines += [f"counts: {r.line()}" for r in reconciled]
    return "".join(f"\n  {line}" for line in lines)


def _runner_name(runner: Any) -> str | None:
    """``RetryingRunner``, not ``<spark_etl.runtime.runner.RetryingRunner object at 0x...>``
    (what Kedro puts in ``run_params`` for a runner instance)."""
    if runner is None:
        return None
    text = runner if isinstance(runner, str) else type(runner).__name__
    found = re.fullmatch(r"<([\w.]+) object at 0x[0-9a-f]+>", text)
    return found.group(1).rsplit(".", 1)[-1] if found else text
