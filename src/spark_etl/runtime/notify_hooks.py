"""The hook that sends the run's notifications (``conf/<env>/notifications.yml``; see
:mod:`spark_etl.runtime.notify`)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from kedro.framework.hooks import hook_impl

from spark_etl.runtime.context import run_name
from spark_etl.runtime.notify import NotificationHandler, Notifier, parse_settings

if TYPE_CHECKING:
    from kedro.framework.context import KedroContext

#: The loggers whose events become notifications.
SOURCE_LOGGER = "spark_etl"


class NotificationHooks:
    """Installs the notification handler for the project's channels; waits for its notices at
    the end of each run."""

    def __init__(self) -> None:
        self.notifier: Notifier | None = None
        self._handler: NotificationHandler | None = None

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        """Read ``notifications.yml`` (a mistake stops the run before Spark starts)."""
        self._remove_handler()
        try:
            raw = dict(context.config_loader["notifications"] or {})
        except KeyError:
            return
        if not raw:
            return
        self.notifier = Notifier(parse_settings(raw))
        self._handler = NotificationHandler(self.notifier)
        logging.getLogger(SOURCE_LOGGER).addHandler(self._handler)

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any]) -> None:
        """The run's names for the templates."""
        if self._handler is not None:
            self._handler.new_run()
            self._handler.run = {
                "pipeline": run_name(run_params),
                "run_id": str(run_params.get("run_id")),
                "env": run_params.get("env"),
            }

    @hook_impl(trylast=True)  # after the run log's run_end, which is what is notified
    def after_pipeline_run(self) -> None:
        """Wait for the run's notices."""
        if self.notifier is not None:
            self.notifier.flush()

    @hook_impl(trylast=True)
    def on_pipeline_error(self) -> None:
        """Wait for the run's notices (its failure among them)."""
        if self.notifier is not None:
            self.notifier.flush()

    def _remove_handler(self) -> None:
        if self._handler is not None:
            logging.getLogger(SOURCE_LOGGER).removeHandler(self._handler)
            self._handler = None
