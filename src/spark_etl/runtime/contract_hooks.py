"""The contract hook: every dataset that names a schema is checked on load and before save.

The structure (fields and types) is checked at once. The values (nulls in non-null fields, enum
symbols) of a spark-etl dataset are checked inside the job that writes the data: the hook attaches
a check to the dataset, which puts a guard into the plan (``spark_etl.contracts.guards``), so the
check costs no Spark pass of its own. A sink that commits atomically (a JDBC staging table, a file
append) aborts its write when the guard fires; any other sink runs the guard first. Other datasets
(Kedro's own) are checked at once, in one pass.

A violation raises :class:`~spark_etl.contracts.ContractViolationError` (terminal: never retried)
with the dataset, fields and offending records; nothing is written. Data a node of this run has
just saved (and so checked) is not checked again when the next node loads it.

The hook also logs, after each save, the quality rules counted while the data was written
(its :class:`~spark_etl.contracts.quality.QualityLedger`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from kedro.framework.hooks import hook_impl
from kedro.io import MemoryDataset, SharedMemoryDataset
from pyspark.sql import DataFrame

from spark_etl.contracts import (
    SchemaFileError,
    SchemaRegistry,
    UnknownSchemaError,
    default_registry,
    guarded,
    schemas_directory,
    use_registry,
    validate,
)
from spark_etl.contracts.guards import is_guarded, run_guards
from spark_etl.contracts.quality import QualityLedger
from spark_etl.datasets.base import EtlDataset, Stage
from spark_etl.runtime.runtime_settings import runtime_config

if TYPE_CHECKING:
    from kedro.framework.context import KedroContext
    from kedro.io import DataCatalog
    from kedro.pipeline.node import Node

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ContractRef:
    """What a catalog entry says about its contract."""

    schema: str
    check_values: bool = True
    ignore: tuple[str, ...] = ()


def contract_of(catalog: DataCatalog, name: str) -> ContractRef | None:
    """The contract a catalog entry names in ``metadata.schema``, if any."""
    dataset = catalog.get(name) if name in catalog else None
    metadata = getattr(dataset, "metadata", None) or {}
    schema = metadata.get("schema") if isinstance(metadata, dict) else None
    if schema is None:
        return None
    return ContractRef(
        schema=schema,
        check_values=bool(metadata.get("check_values", True)),
        ignore=tuple(getattr(dataset, "system_columns", ())),
    )


class ContractHooks:
    """Loads ``schemas/`` at start-up and checks the data of every dataset that names a schema."""

    def __init__(self) -> None:
        self._registry: SchemaRegistry | None = None
        self._catalog: DataCatalog | None = None
        self._pipeline: str | None = None
        self._checked: set[str] = set()
        self.quality = QualityLedger()

    @hook_impl(tryfirst=True)
    def after_context_created(self, context: KedroContext) -> None:
        """Parse every ``.avsc`` now: a broken file stops the run before Spark starts. The
        folder: ``$SPARK_ETL_SCHEMAS_DIR``, else ``runtime.yml``'s ``schemas_dir``, else the
        project's ``schemas/``."""
        configured = runtime_config(context).get("schemas_dir")
        if configured is not None and not isinstance(configured, str):
            raise SchemaFileError(
                f"runtime.yml: schemas_dir must be a folder's path (relative to the project), "
                f"not {configured!r}."
            )
        self._registry = use_registry(*schemas_directory(context.project_path, configured))
        self._registry.load()

    @hook_impl
    def after_catalog_created(self, catalog: DataCatalog) -> None:
        """Every schema the catalog names must exist; spark-etl datasets get their check."""
        self._catalog = catalog
        self._checked.clear()
        self.quality.guard_sinks({name for name in catalog if self._rules_may_ride(catalog, name)})
        for name in catalog:
            ref = contract_of(catalog, name)
            if ref is None:
                continue
            try:
                self._require_registry().get(ref.schema)
            except UnknownSchemaError as exc:
                raise UnknownSchemaError(f"Dataset '{name}': {exc}") from exc
            dataset = catalog.get(name)
            if isinstance(dataset, EtlDataset):
                dataset.attach_check(partial(self._guard, name))

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any]) -> None:
        """Remember the pipeline's name for messages and log events."""
        names = run_params.get("pipeline_names") or [run_params.get("pipeline_name")]
        self._pipeline = ",".join(n for n in names if n) or "__default__"

    @hook_impl
    def after_dataset_loaded(self, dataset_name: str, data: Any, node: Node) -> None:
        """Check data right after extract (unless this run checked it when saving it)."""
        if dataset_name not in self._checked and not self._guards(dataset_name):
            self._check(dataset_name, data)

    @hook_impl
    def before_dataset_saved(self, dataset_name: str, data: Any, node: Node) -> None:
        """Check data right before it is written.

        Data guarded upstream (a spark-etl dataset's load) that goes to another kind of sink is
        checked here, in a pass of its own: that sink may not commit atomically, so the guard
        must not fire halfway through its write. Kedro's in-memory datasets write nothing, so
        the guard fires wherever their data is used.
        """
        self.quality.expect_save(dataset_name)
        if not self._guards(dataset_name):
            if self._persists(dataset_name) and _guarded_batch(data):
                run_guards(data)
            self._check(dataset_name, data)
        self._checked.add(dataset_name)

    @hook_impl
    def after_dataset_saved(self, dataset_name: str) -> None:
        """Log the quality rules counted while the data was written."""
        catalog = self._catalog
        dataset = catalog.get(dataset_name) if catalog and dataset_name in catalog else None
        saved = dataset.last_save if isinstance(dataset, EtlDataset) else None
        self.quality.report(dataset_name, saved.records if saved is not None else None)

    def _guards(self, name: str) -> bool:
        """Whether the dataset checks through the guard attached to it (a spark-etl dataset)."""
        return self._catalog is not None and isinstance(
            self._catalog.get(name) if name in self._catalog else None, EtlDataset
        )

    @staticmethod
    def _rules_may_ride(catalog: DataCatalog, name: str) -> bool:
        """Whether the dataset's quality rules may run inside its write: a spark-etl dataset
        (it aborts or pre-checks a guarded write) whose validator is not ``severity: warn``
        (Kedro logs such a failure and saves anyway, which a write that failed cannot do)."""
        spec = getattr(catalog, "validator_specs", {}).get(name)
        return isinstance(catalog.get(name), EtlDataset) and (
            spec is None or spec.severity != "warn"
        )

    def _persists(self, name: str) -> bool:
        """Whether the dataset writes outside this process (not one of Kedro's memory datasets)."""
        if self._catalog is None or name not in self._catalog:
            return False  # Kedro makes unnamed intermediates memory datasets
        return not isinstance(self._catalog.get(name), MemoryDataset | SharedMemoryDataset)

    def _guard(self, name: str, data: DataFrame, stage: Stage) -> DataFrame:
        """The check attached to a spark-etl dataset: structure now, values in the write job."""
        ref = contract_of(self._catalog, name) if self._catalog is not None else None
        if ref is None or (stage == "load" and name in self._checked):
            return data
        checked = guarded(
            data,
            self._require_registry().get(ref.schema),
            name,
            pipeline=self._pipeline,
            check_values=ref.check_values,
            ignore=ref.ignore,
            every_row=stage == "load",
        )
        values = "off" if not ref.check_values or data.isStreaming else "in_job"
        self._log_pass(name, ref, values)
        return checked

    def _check(self, name: str, data: Any) -> None:
        if self._catalog is None or not isinstance(data, DataFrame):
            return
        ref = contract_of(self._catalog, name)
        if ref is None:
            return
        contract = self._require_registry().get(ref.schema)
        validate(
            data,
            contract,
            name,
            pipeline=self._pipeline,
            check_values=ref.check_values,
            ignore=ref.ignore,
        )
        self._log_pass(name, ref, "now" if ref.check_values else "off")

    def _log_pass(self, name: str, ref: ContractRef, values: str) -> None:
        when = {
            "in_job": "its values are checked inside the job that writes them",
            "now": "values checked",
            "off": "values not checked",
        }[values]
        logger.info(
            "Dataset %s meets contract %s (%s)",
            name,
            ref.schema,
            when,
            extra={
                "event": "contract_check",
                "dataset": name,
                "schema": ref.schema,
                "pipeline": self._pipeline,
                "passed": True,
                "values": values,
            },
        )

    def _require_registry(self) -> SchemaRegistry:
        if self._registry is None:
            self._registry = default_registry()
        return self._registry


def _guarded_batch(data: Any) -> bool:
    return isinstance(data, DataFrame) and not data.isStreaming and is_guarded(data)
