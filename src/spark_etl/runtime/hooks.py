"""Kedro hooks that wire the runtime into every run."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kedro.framework.hooks import hook_impl

from spark_etl.datasets._cache import release_cached
from spark_etl.runtime.spark import get_spark

if TYPE_CHECKING:
    from kedro.framework.context import KedroContext


class SparkHooks:
    """Builds the SparkSession from ``conf/<env>/spark.yml`` as soon as the Kedro context exists,
    and drops the run's cached reference data when the run ends (its streams ended too)."""

    @hook_impl(trylast=True)
    def after_context_created(self, context: KedroContext) -> None:
        """Start (or reuse) the session before any dataset is loaded (after the other hooks have
        read their config: a mistake there stops the run before Spark starts)."""
        get_spark(context.config_loader["spark"])

    @hook_impl
    def after_pipeline_run(self) -> None:
        """The run's cached reference data is dropped: a later run in this process reads the
        sources again (``spark_etl.datasets._cache``)."""
        release_cached()

    @hook_impl
    def on_pipeline_error(self) -> None:
        """The same for a failed run."""
        release_cached()
