"""The contract hook: every dataset that names a schema is checked on load and before save.

A violation raises :class:`~spark_etl.contracts.ContractViolationError` (terminal: never retried)
before the node that would consume the data starts, or before anything is written. Data a node of
this run has just saved (and so checked) is not checked again when the next node loads it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kedro.framework.hooks import hook_impl
from pyspark.sql import DataFrame

from spark_etl.contracts import (
    SchemaRegistry,
    UnknownSchemaError,
    default_registry,
    use_registry,
    validate,
)

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

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        """Parse every ``.avsc`` now: a broken file stops the run before Spark starts."""
        self._registry = use_registry(context.project_path / "schemas")
        self._registry.load()

    @hook_impl
    def after_catalog_created(self, catalog: DataCatalog) -> None:
        """Every schema the catalog names must exist."""
        self._catalog = catalog
        self._checked.clear()
        for name in catalog:
            ref = contract_of(catalog, name)
            if ref is not None:
                try:
                    self._require_registry().get(ref.schema)
                except UnknownSchemaError as exc:
                    raise UnknownSchemaError(f"Dataset '{name}': {exc}") from exc

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any]) -> None:
        """Remember the pipeline's name for messages and log events."""
        names = run_params.get("pipeline_names") or [run_params.get("pipeline_name")]
        self._pipeline = ",".join(n for n in names if n) or "__default__"

    @hook_impl
    def after_dataset_loaded(self, dataset_name: str, data: Any, node: Node) -> None:
        """Check data right after extract (unless this run checked it when saving it)."""
        if dataset_name not in self._checked:
            self._check(dataset_name, data)

    @hook_impl
    def before_dataset_saved(self, dataset_name: str, data: Any, node: Node) -> None:
        """Check data right before it is written."""
        self._check(dataset_name, data)
        self._checked.add(dataset_name)

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
        logger.info(
            "Dataset %s meets contract %s",
            name,
            ref.schema,
            extra={
                "event": "contract_check",
                "dataset": name,
                "schema": ref.schema,
                "pipeline": self._pipeline,
                "passed": True,
            },
        )

    def _require_registry(self) -> SchemaRegistry:
        if self._registry is None:
            self._registry = default_registry()
        return self._registry
