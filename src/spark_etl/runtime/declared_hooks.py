"""The hook that points the declared pipelines at the run's conf and checks them against the
catalog before the run starts."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from kedro.framework.hooks import hook_impl

from spark_etl import declared
from spark_etl.declared import Declaration, DeclaredPipelineError

if TYPE_CHECKING:
    from kedro.framework.context import KedroContext
    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline


class DeclaredPipelineHooks:
    """Reads declared pipelines from the run's environment; checks, before the run, that those
    it runs name real datasets and agree with the catalog's write modes."""

    def __init__(self, directory: Path | None = None) -> None:
        self._directory = directory

    @hook_impl(tryfirst=True)
    def after_context_created(self, context: KedroContext) -> None:
        """Declared pipelines come from ``conf/base/pipelines`` and ``conf/<env>/pipelines``."""
        loader: Any = context.config_loader
        source = Path(str(getattr(loader, "conf_source", context.project_path / "conf")))
        if source.is_dir():  # a packaged conf archive: the registry keeps conf/ of the cwd
            declared.use_conf(
                source,
                str(getattr(loader, "base_env", None) or "base"),
                getattr(loader, "env", None) or getattr(loader, "default_run_env", None),
            )

    @hook_impl
    def before_pipeline_run(self, pipeline: Pipeline, catalog: CatalogProtocol) -> None:
        """Unknown datasets and mismatched write modes are named with their file and path."""
        running = {n.name for n in pipeline.nodes}
        for declaration in declared.load_declarations(self._directory):
            if not any(name.startswith(f"{declaration.id}.") for name in running):
                continue  # not part of this run: its mistakes fail only its own runs
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
        declared_mode = sink.get("write_mode")
        actual = getattr(catalog.get(sink["dataset"]), "write_mode", None)
        if declared_mode is not None and actual is not None and declared_mode != actual:
            raise DeclaredPipelineError(
                f"{declaration.path}: $.sink.write_mode: '{declared_mode}', but the catalog "
                f"entry '{sink['dataset']}' writes with '{actual}'; make them agree."
            )
