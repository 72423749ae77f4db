"""Check a whole run before its first write: every node, on data with the right shape and no rows.

A mistyped column, parameter or key of the third node must not be found after the first node has
overwritten its output. Before the run starts, :func:`check_run` walks the pipeline's nodes in
order and runs each one on empty DataFrames: a source gives its real columns and types and no rows
(:meth:`~spark_etl.datasets.base.EtlDataset.empty_load`: a file footer, a table's metadata, a Kafka
contract), an earlier node's output is what that node returned (as its sink would give it back:
an SCD2 table adds its version columns), parameters are the run's. Spark
only plans the work, so each node costs milliseconds, and the problems found are the ones the run
would meet with real data:

* a transform's parameters or the columns it names (spark-etl's own checks, with "did you mean");
* any column, function or type Spark cannot resolve in a node's own code;
* a sink's required columns (key columns, audit columns, a Kafka key) missing from what it gets;
* a sink's contract: fields missing or of another type (values are checked while writing);
* a stream's sink in Real-Time Mode: the steps Real-Time Mode does not run (an aggregation, a
  de-duplication, a sort; its joins are checked when its query starts);
* a source with nothing at its path.

Every problem is collected, so one message lists them all (``kedro run`` stops with it, exit code
2; ``kedro check`` only reports). A source that cannot be reached now is skipped with the nodes
that need it: the run retries it as usual. Only failures that depend on the data's shape are
reported: a node that raises anything else on empty data (it may require rows) is left to the run.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame

from spark_etl.contracts import ContractViolationError, default_registry, validate
from spark_etl.datasets.base import EtlDataset
from spark_etl.datasets.exceptions import SourceMissingError
from spark_etl.exceptions import ConfigError, causes
from spark_etl.runtime.classify import is_transient

if TYPE_CHECKING:
    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline
    from kedro.pipeline.node import Node

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Problem:
    """One thing that would make the run fail."""

    where: str  # "node 'summarise_users'", "dataset 'user_summary'"
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class PipelineCheckError(ConfigError):
    """The run would fail: every problem found before its first write."""

    def __init__(self, pipeline: str, problems: list[Problem]) -> None:
        self.problems = problems
        count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
        lines = [f"Pipeline '{pipeline}' would fail; nothing was run ({count} found):"]
        lines += [f"  - {problem}" for problem in problems]
        super().__init__("\n".join(lines))


@dataclass
class CheckReport:
    """What :func:`check_run` looked at and found."""

    nodes_checked: int = 0
    nodes_skipped: int = 0
    problems: list[Problem] = field(default_factory=list)


def check_run(pipeline: Pipeline, catalog: CatalogProtocol) -> CheckReport:
    """Run every node of ``pipeline`` on empty data; collect what would fail (see the module)."""
    frames: dict[str, Any] = {}
    unknown: set[str] = set()  # datasets whose data cannot be shaped now
    streams: set[str] = set()  # datasets whose data is a stream in the run
    report = CheckReport()
    problems = report.problems
    for node in pipeline.nodes:  # Kedro's order: every node after the nodes it depends on
        inputs = {}
        for name in node.inputs:
            if name in unknown:  # a skipped node makes it, or its source has no shape now
                break
            value = frames[name] if name in frames else _source(name, catalog, problems, unknown)
            if name in unknown:
                break
            inputs[name] = value
            if name not in frames and _loads_stream(name, catalog):
                streams.add(name)
        else:
            outputs = _run_node(node, inputs, problems)
            if outputs is not None:
                report.nodes_checked += 1
                streaming = any(name in streams for name in inputs)
                for name, data in outputs.items():
                    frames[name] = _read_back(name, data, catalog)
                    _check_sink(name, data, catalog, problems, streaming=streaming)
                    if streaming:
                        streams.add(name)
                continue
        report.nodes_skipped += 1
        unknown.update(node.outputs)
    return report


def _source(name: str, catalog: CatalogProtocol, problems: list[Problem], unknown: set[str]) -> Any:
    """An input no node of the run makes: a parameter's value, a source's empty data."""
    if name == "parameters" or name.startswith("params:"):
        return catalog.load(name)
    dataset = catalog.get(name) if name in catalog else None
    if not isinstance(dataset, EtlDataset):
        unknown.add(name)  # not one of spark-etl's: its shape is not known before it loads
        return None
    try:
        return dataset.empty_load()
    except Exception as exc:
        unknown.add(name)
        if any(isinstance(e, SourceMissingError | ConfigError) for e in causes(exc)):
            problems.append(Problem(f"dataset '{name}'", _first_line(exc)))
        elif not is_transient(exc):
            logger.debug("Preflight: %s not shaped (%s)", name, exc)
        return None


def _read_back(name: str, data: Any, catalog: CatalogProtocol) -> Any:
    """What a later node loading ``name`` gets: the sink's own shape of the saved data."""
    dataset = catalog.get(name) if name in catalog else None
    if isinstance(dataset, EtlDataset) and isinstance(data, DataFrame):
        return dataset.saved_shape(data)
    return data


def _run_node(node: Node, inputs: dict[str, Any], problems: list[Problem]) -> dict[str, Any] | None:
    """The node's outputs on ``inputs``, or ``None`` when it failed (a problem if it is a shape
    one)."""
    try:
        with _quiet("kedro.pipeline.node"):  # no "Running node" lines for a check
            return node.run(inputs)
    except Exception as exc:
        shape = next(
            (e for e in causes(exc) if isinstance(e, ConfigError | AnalysisException)), None
        )
        if shape is not None:
            problems.append(Problem(f"node '{node.name}'", _first_line(shape)))
        return None


def _loads_stream(name: str, catalog: CatalogProtocol) -> bool:
    dataset = catalog.get(name) if name in catalog else None
    return isinstance(dataset, EtlDataset) and dataset.loads_stream


def _check_sink(
    name: str, data: Any, catalog: CatalogProtocol, problems: list[Problem], *, streaming: bool
) -> None:
    """The problems a save of ``data`` into ``name`` would meet; ``streaming``: the run saves a
    stream there (its empty data here is not one)."""
    dataset = catalog.get(name) if name in catalog else None
    if not isinstance(dataset, EtlDataset) or not isinstance(data, DataFrame):
        return
    if streaming:
        problems.extend(Problem(f"dataset '{name}'", m) for m in dataset.stream_plan_problems(data))
    missing = [c for c in dataset.required_columns() if c not in data.columns]
    if missing:
        problems.append(
            Problem(
                f"dataset '{name}'",
                f"the data to save lacks the column(s) {missing} that its catalog entry names "
                f"(it has: {', '.join(data.columns)}).",
            )
        )
    schema = (dataset.metadata or {}).get("schema")
    if schema is None:
        return
    try:
        validate(data, default_registry().get(schema), name, check_values=False)
    except ContractViolationError as exc:
        problems.append(Problem(f"dataset '{name}'", str(exc).strip()))
    except ConfigError as exc:  # an unknown schema
        problems.append(Problem(f"dataset '{name}'", _first_line(exc)))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextmanager
def _quiet(name: str) -> Iterator[None]:
    target = logging.getLogger(name)
    was = target.disabled
    target.disabled = True
    try:
        yield
    finally:
        target.disabled = was
