"""``RetryingRunner``: Kedro's sequential runner, retrying transient failures from the failed node.

``kedro run`` uses it by default (``spark_etl.cli.run``). When a node fails with a transient error
(a server down, a timeout), the runner waits as the pipeline's retry policy says and runs again
**only what did not finish**: the failed node and the nodes after it, plus any earlier node whose
output was not persisted (a ``MemoryDataset`` is gone with the failed attempt), as Kedro's own
``--from-nodes`` suggestion computes it. Persisted outputs of nodes that finished are reused, so a
retry never redoes an upsert that already landed. Terminal errors end the run at once.

Nodes and the whole run have the time limits of ``runtime.yml``'s ``timeouts``
(:mod:`spark_etl.runtime.watchdog`): a node past its time has its Spark jobs cancelled and fails
with a :class:`~spark_etl.runtime.timeouts.RunTimeoutError`, retried or not as configured.

When the nodes of a streaming pipeline have started their queries, the runner waits for them
(:func:`spark_etl.runtime.streaming.await_queries`); a failed query is retried the same way, and
restarts from its checkpoint.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kedro.framework.hooks import hook_impl
from kedro.runner import SequentialRunner
from kedro.runner.runner import _find_nodes_to_resume_from
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from spark_etl._jvm import current_session
from spark_etl.contracts.guards import CHECK_ERRORS, explanation
from spark_etl.exceptions import causes
from spark_etl.runtime.classify import classify, is_transient
from spark_etl.runtime.context import RunContext, find_run_context
from spark_etl.runtime.failure import RESUME_FROM, headline
from spark_etl.runtime.retry import RetryPolicy
from spark_etl.runtime.streaming import await_queries, max_duration_s
from spark_etl.runtime.watchdog import Watchdog

if TYPE_CHECKING:
    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline
    from kedro.pipeline.node import Node
    from pluggy import PluginManager

logger = logging.getLogger(__name__)


class _DoneNodes:
    """A hook that remembers which nodes finished, across attempts.

    A node has finished when it ran **and** all its outputs were saved: a node whose upsert
    failed must run again.
    """

    def __init__(self) -> None:
        self.done: set[Node] = set()
        self._unsaved: dict[Node, set[str]] = {}

    @hook_impl
    def after_node_run(self, node: Node) -> None:
        """The node ran; it is done once its outputs are saved."""
        self._unsaved[node] = set(node.outputs)
        self._settle(node)

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, node: Node) -> None:
        """One more output of ``node`` is saved."""
        self._unsaved.get(node, set()).discard(dataset_name)
        self._settle(node)

    def _settle(self, node: Node) -> None:
        if node in self._unsaved and not self._unsaved[node]:
            del self._unsaved[node]
            self.done.add(node)


def _resumable(error: BaseException, start: list[str]) -> BaseException:
    """``error``, carrying the nodes to resume from (the command line prints them)."""
    if start:
        with contextlib.suppress(AttributeError):  # an exception type with __slots__
            setattr(error, RESUME_FROM, start)
    return error


def _check_failure(exc: BaseException) -> Exception | None:
    """The data check's own error behind ``exc``, raised as itself rather than wrapped in the
    catalog's ``DatasetError``; a guard that fired in a node's own Spark job is explained here."""
    explained = explanation(exc)
    if explained is not None:
        return explained
    found = next((e for e in causes(exc) if isinstance(e, CHECK_ERRORS)), None)
    return found if found is not exc and isinstance(found, Exception) else None


class RetryingRunner(SequentialRunner):
    """Runs nodes one after another; retries transient failures per the pipeline's policy.

    Args:
        is_async: load and save node inputs and outputs asynchronously (as Kedro's runners).
        policy: the retry policy; default: the pipeline's from ``conf/<env>/runtime.yml`` (the
            run hook's context), else 3 retries 5 s apart.
        sleep: how to wait between attempts (tests pass a fake one).
    """

    def __init__(
        self,
        is_async: bool = False,
        *,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(is_async=is_async)
        self._policy = policy
        self._sleep = sleep

    def _run(
        self,
        pipeline: Pipeline,
        catalog: CatalogProtocol,
        hook_manager: PluginManager | None = None,
        run_id: str | None = None,
    ) -> None:
        manager: Any = hook_manager
        # the run hook's context: the pipeline's retry policy, the streaming time limit
        run = find_run_context(manager.get_plugins()) if manager is not None else None
        policy = self._policy or (run or RunContext()).retry_policy()
        limit = run.max_duration_s if run else max_duration_s(None)
        tracker = _DoneNodes()
        manager.register(tracker)
        watchdog = Watchdog((run or RunContext()).timeouts, run.pipeline if run else None)
        manager.register(watchdog)
        watchdog.start(pipeline)
        todo = [pipeline]
        try:
            for attempt in Retrying(
                stop=stop_after_attempt(policy.attempts),
                wait=policy.wait(),
                retry=retry_if_exception(is_transient),
                sleep=self._sleep,
                before_sleep=self._announce(policy, todo),
                reraise=True,
            ):
                with attempt:
                    try:
                        super()._run(todo[0], catalog, hook_manager, run_id)
                        self._await_streams(limit, watchdog)
                    except Exception as exc:
                        start = self._resume_from(pipeline, tracker.done, catalog)
                        todo[0] = pipeline.from_nodes(*start) if start else pipeline
                        timed_out = watchdog.failed(exc)
                        if timed_out is not exc:
                            self._report(timed_out, attempt.retry_state.attempt_number, policy)
                            raise _resumable(timed_out, start) from exc
                        failure = _check_failure(exc)
                        self._report(failure or exc, attempt.retry_state.attempt_number, policy)
                        if failure is not None:
                            raise _resumable(failure, start) from failure.__cause__
                        _resumable(exc, start)
                        raise
        finally:
            watchdog.stop()
            manager.unregister(watchdog)
            manager.unregister(tracker)

    @staticmethod
    def _await_streams(limit_s: float | None, watchdog: Watchdog) -> None:
        """Streaming sinks started queries: wait for them (a failure is retried like any). The
        pipeline's timeout stops counting: queries run under the streaming time limit."""
        spark = current_session()
        if spark is not None:
            if spark.streams.active:
                watchdog.streaming()
            await_queries(spark, limit_s)

    @staticmethod
    def _resume_from(pipeline: Pipeline, done: set[Node], catalog: CatalogProtocol) -> list[str]:
        """The nodes to start again from (Kedro's ``--from-nodes``); none when none finished."""
        unfinished = set(pipeline.nodes) - done
        if not done or not unfinished:
            return []
        return sorted(_find_nodes_to_resume_from(pipeline, unfinished, catalog))

    @staticmethod
    def _report(exc: Exception, attempt: int, policy: RetryPolicy) -> None:
        kind = classify(exc)
        last = kind == "terminal" or attempt >= policy.attempts
        if not last:
            return
        why = "terminal error: not retried" if kind == "terminal" else "retries exhausted"
        said = headline(exc)  # the traceback ends the run's log file
        logger.error(
            "Attempt %d of %d failed with a %s error (%s): %s",
            attempt,
            policy.attempts,
            kind,
            why,
            said,
            extra={
                "event": "attempt_failed",
                "attempt": attempt,
                "attempts": policy.attempts,
                "error_kind": kind,
                "error": said,
                "final": True,
            },
        )

    @staticmethod
    def _announce(policy: RetryPolicy, todo: list[Pipeline]) -> Callable[[RetryCallState], None]:
        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            delay = state.next_action.sleep if state.next_action else 0.0
            nodes = sorted(n.name for n in todo[0].nodes)
            said = headline(exc) if exc is not None else None
            logger.warning(
                "Attempt %d of %d failed with a transient error: %s; retrying in %.1f s with "
                "nodes %s",
                state.attempt_number,
                policy.attempts,
                said,
                delay,
                nodes,
                extra={
                    "event": "retry",
                    "attempt": state.attempt_number,
                    "attempts": policy.attempts,
                    "delay_s": delay,
                    "error_kind": "transient",
                    "error": str(exc),
                    "resume_nodes": nodes,
                },
            )

        return before_sleep
