"""The outcome of every quality rule of a run, stored in a dataset of the catalog as well as logged.

The logs carry each rule's ``quality_check`` event; a warehouse also wants them as rows it can
query and chart (how many late rows each night, since when a rule fails). ``runtime.yml`` names a
catalog dataset per pipeline, shaped like the dead-letter setting::

    quality_results:
      default: quality_check_result     # e.g. a JDBCDataset, write_mode: append
      pipelines:
        streaming_kafka_pg: null        # not for this one

At the end of each run, successful or failed (a ``fail`` rule that stopped the run is what one
most wants on record), the run's results are appended there in one write: one row per rule and
dataset checked, with the run's id and pipeline (:data:`RESULT_COLUMNS`). Results are the
``quality_check`` events of :mod:`spark_etl.contracts.quality` and of the Great Expectations
validator, so the rows and the log never disagree. A store that cannot be written is logged as an
error (``quality_results_not_stored``) and does not change the run's outcome: the data was
written or not on its own terms.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import datetime
from typing import TYPE_CHECKING, Any

from kedro.framework.hooks import hook_impl
from pyspark.sql import types as T

from spark_etl._jvm import current_session
from spark_etl._validation import validated
from spark_etl.runtime.context import run_name
from spark_etl.runtime.runtime_settings import DatasetPerPipeline, runtime_config

if TYPE_CHECKING:
    from kedro.framework.context import KedroContext
    from kedro.io import CatalogProtocol
    from kedro.pipeline.node import Node

logger = logging.getLogger("spark_etl.metrics")

#: The loggers whose ``quality_check`` events are results.
SOURCE_LOGGER = "spark_etl"

#: The rows appended to the results dataset (a created table gets these columns).
RESULT_COLUMNS = T.StructType(
    [
        T.StructField("run_id", T.StringType(), False),
        T.StructField("pipeline", T.StringType(), False),
        T.StructField("node", T.StringType(), True),
        T.StructField("dataset", T.StringType(), False),
        T.StructField("rule", T.StringType(), False),
        T.StructField("column_name", T.StringType(), True),
        T.StructField("severity", T.StringType(), False),
        T.StructField("passed", T.BooleanType(), False),
        T.StructField("failing", T.LongType(), False),
        T.StructField("detail", T.StringType(), True),
        T.StructField("examples", T.StringType(), True),
        T.StructField("checked_at", T.TimestampType(), False),
    ]
)


class ResultCollector(logging.Handler):
    """Keeps the ``quality_check`` events logged while it is installed."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self._lock = threading.Lock()
        self._rows: list[dict[str, Any]] = []
        #: the node whose inputs are loaded, or which runs, or whose outputs are saved
        self.node: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        """Keep a ``quality_check`` record's fields."""
        if getattr(record, "event", None) != "quality_check":
            return
        fields = record.__dict__
        checked = fields.get("checked_at")
        row = {
            "node": fields.get("node") or self.node,
            "dataset": str(fields.get("dataset") or "<dataset>"),
            "rule": str(fields.get("rule") or "<rule>"),
            "column_name": fields.get("column"),
            "severity": str(fields.get("severity") or "fail"),
            "passed": bool(fields.get("passed")),
            "failing": int(fields.get("failing") or 0),
            "detail": fields.get("detail") or None,
            "examples": json.dumps(fields["examples"], default=str)
            if fields.get("examples")
            else None,
            "checked_at": datetime.fromisoformat(checked)
            if isinstance(checked, str)
            else datetime.fromtimestamp(record.created).astimezone(),
        }
        with self._lock:
            self._rows.append(row)

    def take(self) -> list[dict[str, Any]]:
        """The rows kept so far; forgets them."""
        with self._lock:
            rows, self._rows = self._rows, []
        return rows


class QualityResultHooks:
    """Collects each run's quality results and appends them to the dataset ``runtime.yml``
    names for the pipeline."""

    def __init__(self) -> None:
        self._settings = DatasetPerPipeline()
        self._catalog: CatalogProtocol | None = None
        self._collector: ResultCollector | None = None
        self._run: dict[str, str] = {}

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        """Read ``quality_results`` of ``runtime.yml`` (a mistake stops the run at once)."""
        self._settings = validated(
            DatasetPerPipeline,
            runtime_config(context).get("quality_results"),
            key="quality_results",
            what="quality_results settings",
            source="runtime.yml",
        )

    @hook_impl
    def after_catalog_created(self, catalog: CatalogProtocol) -> None:
        """Keep the catalog: the results are saved through it."""
        self._catalog = catalog

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any]) -> None:
        """Start collecting when the pipeline has a results dataset."""
        self._stop_collecting()
        name = run_name(run_params)
        target = self._settings.for_pipeline(name)
        if target is None:
            return
        self._run = {"run_id": str(run_params.get("run_id")), "pipeline": name, "target": target}
        self._collector = ResultCollector()
        logging.getLogger(SOURCE_LOGGER).addHandler(self._collector)

    @hook_impl
    def before_dataset_loaded(self, node: Node) -> None:
        """Kedro loads a node's inputs (and runs their rules) before the node starts."""
        self._at(node)

    @hook_impl
    def before_node_run(self, node: Node) -> None:
        """The node that runs."""
        self._at(node)

    def _at(self, node: Node) -> None:
        if self._collector is not None:
            self._collector.node = node.name

    @hook_impl(tryfirst=True)  # before the notifications are flushed: a failed store is told
    def after_pipeline_run(self) -> None:
        """Append the run's results."""
        self._store()

    @hook_impl(tryfirst=True)
    def on_pipeline_error(self) -> None:
        """Append the failed run's results (the rule that stopped it among them)."""
        self._store()

    def _store(self) -> None:
        collector = self._stop_collecting()
        if collector is None or self._catalog is None:
            return
        rows = collector.take()
        spark = current_session()
        if not rows or spark is None:
            return
        target = self._run["target"]
        run = {"run_id": self._run["run_id"], "pipeline": self._run["pipeline"]}
        try:
            frame = spark.createDataFrame(
                [{**run, **row} for row in rows], schema=RESULT_COLUMNS, verifySchema=False
            )
            self._catalog.save(target, frame)
        except Exception as error:  # the run's outcome stands; the store's failure is told
            logger.error(
                "The run's %d quality result(s) could not be stored in %s: %s. They are in the "
                "run's log (quality_check events); fix the dataset, the next run stores its own.",
                len(rows),
                target,
                str(error).splitlines()[0] if str(error) else type(error).__name__,
                extra={"event": "quality_results_not_stored", "dataset": target},
            )
            return
        logger.info(
            "Stored %d quality result(s) in %s",
            len(rows),
            target,
            extra={"event": "quality_results_stored", "dataset": target, "records": len(rows)},
        )

    def _stop_collecting(self) -> ResultCollector | None:
        collector, self._collector = self._collector, None
        if collector is not None:
            logging.getLogger(SOURCE_LOGGER).removeHandler(collector)
        return collector
