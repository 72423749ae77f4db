"""The hook that checks a whole run before its first write (``spark_etl.runtime.preflight``)."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from kedro.framework.hooks import hook_impl

from spark_etl.exceptions import ConfigError
from spark_etl.runtime.context import run_name
from spark_etl.runtime.preflight import PipelineCheckError, check_run

if TYPE_CHECKING:
    from kedro.framework.context import KedroContext
    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline

logger = logging.getLogger("spark_etl.metrics")


class PreflightHooks:
    """Runs every node of the run on empty data before the first one runs for real; stops the
    run with every problem found (``preflight: false`` in ``runtime.yml`` turns it off)."""

    def __init__(self) -> None:
        self.enabled = True

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        """Read ``preflight`` from ``runtime.yml`` (default ``true``)."""
        try:
            runtime = dict(context.config_loader["runtime"] or {})
        except KeyError:
            runtime = {}
        value = runtime.get("preflight", True)
        if not isinstance(value, bool):
            raise ConfigError(
                f"runtime.yml: preflight must be true or false, not {value!r} "
                f"({type(value).__name__})."
            )
        self.enabled = value

    @hook_impl(trylast=True)
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: CatalogProtocol
    ) -> None:
        """Check the run's nodes in order; raise :class:`PipelineCheckError` listing problems."""
        if not self.enabled:
            return
        started = time.perf_counter()
        report = check_run(pipeline, catalog)
        duration = time.perf_counter() - started
        problems = report.problems
        logger.info(
            "Checked %d node(s) before the run in %.2f s: %s",
            report.nodes_checked,
            duration,
            f"{len(problems)} problem(s)" if problems else "no problem",
            extra={
                "event": "preflight",
                "nodes_checked": report.nodes_checked,
                "nodes_skipped": report.nodes_skipped,
                "problems": [str(p) for p in problems],
                "duration_s": round(duration, 3),
            },
        )
        if problems:
            raise PipelineCheckError(run_name(run_params), problems)
