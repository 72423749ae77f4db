"""The hook that checks declared pipelines against the catalog once it exists."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from kedro.framework.hooks import hook_impl

from spark_etl.declared import Declaration, DeclaredPipelineError, load_declarations

if TYPE_CHECKING:
    from kedro.io import CatalogProtocol


class DeclaredPipelineHooks:
    """Checks, when the catalog exists, that declared pipelines name real datasets and modes."""

    def __init__(self, directory: Path | None = None) -> None:
        self._directory = directory

    @hook_impl
    def after_catalog_created(self, catalog: CatalogProtocol) -> None:
        """Unknown datasets and mismatched write modes are named with their file and path."""
        for declaration in load_declarations(self._directory):
            for name, where in declaration.datasets().items():
                if name not in catalog:
                    raise DeclaredPipelineError(
                        f"{declaration.path}: {where}: dataset '{name}' is not in the catalog; "
                        "add it to conf/<env>/catalog.yml or fix the name."
                    )
            self._check_mode(declaration, catalog)

    @staticmethod
    def _check_mode(declaration: Declaration, catalog: CatalogProtocol) -> None:
        sink = declaration.spec["sink"]
        declared = sink.get("write_mode")
        actual = getattr(catalog.get(sink["dataset"]), "write_mode", None)
        if declared is not None and actual is not None and declared != actual:
            raise DeclaredPipelineError(
                f"{declaration.path}: $.sink.write_mode: '{declared}', but the catalog entry "
                f"'{sink['dataset']}' writes with '{actual}'; make them agree."
            )
