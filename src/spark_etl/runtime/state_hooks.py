"""The hooks that keep incremental sources' state across runs.

``runtime.yml`` names the store::

    state:
      path: s3a://my-lake/_spark_etl_state/      # one JSON object per pipeline and dataset
      # or: url: jdbc:postgresql://db:5432/etl, credentials: postgres, table: spark_etl_state

Before an incremental dataset is loaded, it gets a slot keyed by its pipeline (the registered
pipeline its node belongs to, however the run was started) and its catalog name. The slot's
pending position is committed once every node of the run that uses the dataset, directly or
not, has finished and its outputs are saved: its sinks are written (a node's DataFrames are
lazy: the data is read and written when Kedro saves the outputs, after the node function
returned). A run that fails or is killed commits nothing, so the next run reads the same range;
a retried node reads again from the same committed start.
``kedro run --full-refresh`` reads every incremental source from its configured start and
commits anew.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

from kedro.framework.hooks import hook_impl
from kedro.framework.project import pipelines

from spark_etl.datasets import StateSlot, StateStore, state_store
from spark_etl.exceptions import ConfigError
from spark_etl.runtime.context import run_name

if TYPE_CHECKING:
    from kedro.framework.context import KedroContext
    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline
    from kedro.pipeline.node import Node

logger = logging.getLogger("spark_etl.metrics")

FULL_REFRESH_ENV = "SPARK_ETL_FULL_REFRESH"


def configured_store(context: KedroContext) -> StateStore | None:
    """The store ``runtime.yml``'s ``state`` section names, if any (its ``credentials`` are a
    key of ``credentials.yml``)."""
    try:
        runtime = dict(context.config_loader["runtime"] or {})
    except KeyError:
        return None
    settings = runtime.get("state")
    if not settings:
        return None
    if not isinstance(settings, dict):
        raise ConfigError("runtime.yml: state must be a mapping (path: ..., or url: ...).")
    credentials = None
    name = settings.get("credentials")
    if name:
        try:
            credentials = dict(context.config_loader["credentials"][name])
        except KeyError as exc:
            raise ConfigError(
                f"runtime.yml: state.credentials '{name}' is not a key of credentials.yml."
            ) from exc
    return state_store(settings, credentials)


class IncrementalStateHooks:
    """Hands incremental sources their state slots; commits them when their data is written."""

    def __init__(self) -> None:
        self.store: StateStore | None = None
        self._catalog: CatalogProtocol | None = None
        self._pipeline: Pipeline | None = None
        self._run_name = "__default__"
        self._run_id = ""
        self._slots: dict[str, StateSlot] = {}
        self._users: dict[str, set[str]] = {}
        self._done: set[str] = set()
        self._saved: set[str] = set()

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        """Open the store ``runtime.yml`` names (a mistake stops the run before Spark starts)."""
        self.store = configured_store(context)

    @hook_impl
    def after_catalog_created(self, catalog: CatalogProtocol) -> None:
        """Keep the catalog: the slots go to its datasets."""
        self._catalog = catalog

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline) -> None:
        """A new run: no slot yet."""
        self._run_name = run_name(run_params)
        self._run_id = str(run_params.get("run_id"))
        self._pipeline = pipeline
        self._slots.clear()
        self._users.clear()
        self._done.clear()
        self._saved.clear()

    @hook_impl
    def before_dataset_loaded(self, dataset_name: str, node: Node) -> None:
        """Give an incremental dataset its slot (the same one if a retry loads it again)."""
        dataset = self._dataset(dataset_name)
        if dataset is None or not getattr(dataset, "incremental", False):
            return
        if self.store is None:
            raise ConfigError(
                f"Dataset '{dataset_name}' is incremental but runtime.yml names no state store: "
                "add state: {path: s3a://<bucket>/<prefix>/} (or url: + credentials: for a "
                "database table)."
            )
        slot = self._slots.get(dataset_name)
        if slot is None:
            slot = StateSlot(
                self.store,
                _pipeline_of(node, self._run_name),
                dataset_name,
                full_refresh=os.environ.get(FULL_REFRESH_ENV, "") not in ("", "0"),
            )
            self._slots[dataset_name] = slot
            self._users[dataset_name] = self._nodes_using(dataset_name)
        dataset.attach_state(slot)

    @hook_impl
    def after_node_run(self, node: Node) -> None:
        """A node without outputs is done when it has run (Kedro saves outputs afterwards)."""
        if not node.outputs:
            self._node_done(node)

    @hook_impl(trylast=True)  # after the run log's dataset_saved: the write, then the commit
    def after_dataset_saved(self, dataset_name: str, node: Node) -> None:
        """A node is done once all its outputs are saved: then commit the slots whose every
        user is done."""
        self._saved.add(dataset_name)
        if set(node.outputs) <= self._saved:
            self._node_done(node)

    def _node_done(self, node: Node) -> None:
        self._done.add(node.name)
        for name, slot in self._slots.items():
            if slot.pending is not None and self._users.get(name, set()) <= self._done:
                entry = slot.commit(self._run_id)
                if entry is not None:
                    logger.info(
                        "State of %s in %s committed: %s",
                        name,
                        entry.pipeline,
                        entry.position,
                        extra={
                            "event": "state_committed",
                            "dataset": name,
                            "state_pipeline": entry.pipeline,
                            "position": entry.position,
                        },
                    )

    @hook_impl
    def after_pipeline_run(self) -> None:
        """Detach the slots (a later run in this process gets its own)."""
        self._detach()

    @hook_impl
    def on_pipeline_error(self) -> None:
        """Commit nothing more: the next run reads the uncommitted ranges again."""
        for name, slot in self._slots.items():
            if slot.pending is not None:
                logger.warning(
                    "State of %s not committed: the next run reads the same records again",
                    name,
                    extra={"event": "state_kept", "dataset": name, "pending": slot.pending},
                )
        self._detach()

    def _detach(self) -> None:
        for name in self._slots:
            dataset = self._dataset(name)
            if dataset is not None:
                dataset.attach_state(None)
        self._slots.clear()

    def _dataset(self, name: str) -> Any:
        if self._catalog is None:
            return None
        try:
            dataset = self._catalog.get(name)
        except Exception:  # not a dataset the catalog can build: nothing to attach
            return None
        return dataset if hasattr(dataset, "attach_state") else None

    def _nodes_using(self, dataset_name: str) -> set[str]:
        if self._pipeline is None:
            return set()
        return {n.name for n in self._pipeline.from_inputs(dataset_name).nodes}


def _pipeline_of(node: Node, fallback: str) -> str:
    """The registered pipeline ``node`` belongs to (the first by name, ``__default__`` last),
    else ``fallback``: a source's state is the same however its pipeline is run."""
    try:
        registered = dict(pipelines)
    except Exception:  # outside a project (a test's session): the run's name
        return fallback
    for name in sorted(registered, key=lambda n: (n == "__default__", n)):
        if any(n.name == node.name for n in registered[name].nodes):
            return name
    return fallback
