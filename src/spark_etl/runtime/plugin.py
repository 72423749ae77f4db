"""spark-etl as a Kedro plugin: the hooks every project with spark-etl installed gets.

Kedro registers the instances below through the ``kedro.hooks`` entry points of the distribution
(see ``pyproject.toml``), so a project needs none of them in its ``settings.py``. A project that
wants to choose turns the plugin's registration off and lists the hooks itself::

    # settings.py
    from spark_etl.runtime.plugin import project_hooks

    DISABLE_HOOKS_FOR_PLUGINS = ("spark-etl",)
    HOOKS = project_hooks(without={"contracts"})

The hooks' order is set by their own ``tryfirst``/``trylast`` marks (the run log and the contract
registry are ready before the Spark session starts), not by the order of registration.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal, get_args

from spark_etl.declared import retry_overrides
from spark_etl.runtime.breaker_hooks import CircuitBreakerHooks
from spark_etl.runtime.contract_hooks import ContractHooks
from spark_etl.runtime.declared_hooks import DeclaredPipelineHooks
from spark_etl.runtime.hooks import SparkHooks
from spark_etl.runtime.notify_hooks import NotificationHooks
from spark_etl.runtime.preflight_hooks import PreflightHooks
from spark_etl.runtime.quality_results import QualityResultHooks
from spark_etl.runtime.run_hooks import RunHooks
from spark_etl.runtime.state_hooks import IncrementalStateHooks

HookName = Literal[
    "spark",
    "run_log",
    "contracts",
    "declared_pipelines",
    "preflight",
    "state",
    "notifications",
    "circuit_breaker",
    "quality_results",
]
HOOK_NAMES: tuple[HookName, ...] = get_args(HookName)


def project_hooks(*, without: Iterable[str] = ()) -> tuple[object, ...]:
    """Fresh instances of spark-etl's hooks, but those named in ``without``.

    Names: ``spark`` (the session from ``spark.yml``), ``run_log`` (structured events, retry and
    dead-letter settings from ``runtime.yml``), ``contracts`` (``schemas/`` and the checks of
    every dataset that names one), ``declared_pipelines`` (declared pipelines name real datasets),
    ``preflight`` (every node of the run checked on empty data before the first write),
    ``state`` (incremental sources resume where the last successful run stopped),
    ``notifications`` (the run's events to email, Teams, Telegram... from notifications.yml),
    ``circuit_breaker`` (writes to a system that keeps failing fail fast, streams pause),
    ``quality_results`` (each run's quality results appended to a dataset of ``runtime.yml``).

    Raises:
        ValueError: for a name that is not one of those.
    """
    skipped = set(without)
    unknown = skipped - set(HOOK_NAMES)
    if unknown:
        raise ValueError(
            f"Unknown spark-etl hook(s) {sorted(unknown)}: choose from {', '.join(HOOK_NAMES)}."
        )
    made: dict[str, Callable[[], object]] = {
        "spark": SparkHooks,
        "run_log": lambda: RunHooks(declared_retry=retry_overrides),
        "contracts": ContractHooks,
        "declared_pipelines": DeclaredPipelineHooks,
        "preflight": PreflightHooks,
        "state": IncrementalStateHooks,
        "notifications": NotificationHooks,
        "circuit_breaker": CircuitBreakerHooks,
        "quality_results": QualityResultHooks,
    }
    return tuple(made[name]() for name in HOOK_NAMES if name not in skipped)


# The entry points' objects (one per hook, so that each shows in Kedro's plugin list).
(
    spark_hooks,
    run_hooks,
    contract_hooks,
    declared_pipeline_hooks,
    preflight_hooks,
    state_hooks,
    notification_hooks,
    circuit_breaker_hooks,
    quality_result_hooks,
) = project_hooks()
