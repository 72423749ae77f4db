"""The hook that sends every spark-etl dataset's writes through the session's circuit breaker
(:mod:`spark_etl.runtime.breaker`), configured by ``runtime.yml``'s ``circuit_breaker``."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from kedro.framework.hooks import hook_impl

from spark_etl.datasets import EtlDataset
from spark_etl.runtime import streaming
from spark_etl.runtime.breaker import CircuitBreaker, parse_breaker_settings

if TYPE_CHECKING:
    from kedro.framework.context import KedroContext
    from kedro.io import CatalogProtocol


class CircuitBreakerHooks:
    """Owns the process's circuit breaker and attaches it to the datasets a run saves.

    The breaker outlives a run in the same process (a notebook, a scheduler's worker running
    one pipeline after another): a system that keeps failing stays paused for them all, until a
    probe succeeds. New settings (another ``runtime.yml``) start afresh.
    """

    def __init__(self) -> None:
        self.breaker: CircuitBreaker | None = None
        self._catalog: CatalogProtocol | None = None

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        """Read ``circuit_breaker`` (a mistake stops the run before Spark starts)."""
        raw = None
        with contextlib.suppress(KeyError):
            raw = dict(context.config_loader["runtime"] or {}).get("circuit_breaker")
        settings = parse_breaker_settings(raw)
        if self.breaker is None or self.breaker.settings != settings:
            self.breaker = CircuitBreaker(settings, stopping=streaming.stop_requested)

    @hook_impl
    def after_catalog_created(self, catalog: CatalogProtocol) -> None:
        """Keep the catalog: the datasets are given the breaker before they save."""
        self._catalog = catalog

    @hook_impl
    def before_dataset_saved(self, dataset_name: str) -> None:
        """The dataset about to write goes through the breaker."""
        if self._catalog is None or self.breaker is None or dataset_name not in self._catalog:
            return
        dataset = self._catalog.get(dataset_name)
        if isinstance(dataset, EtlDataset):
            dataset.attach_breaker(self.breaker)
