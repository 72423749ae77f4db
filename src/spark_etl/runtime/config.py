"""The config loader of spark-etl projects: Kedro's ``OmegaConfigLoader`` with what spark-etl reads.

A project's ``settings.py`` names it (``CONFIG_LOADER_CLASS = EtlConfigLoader``). On top of
Kedro's loader it:

* reads ``spark*.yml`` (the session's properties), ``runtime*.yml`` (retries, timeouts, dead
  letters, streaming), ``services*.yml`` (the local stack), ``notifications*.yml``,
  ``clusters*.yml`` (cluster profiles) and ``schedules*.yml`` as config of their own;
* resolves ``${oc.env:VAR,default}`` in every file and ``${vault:secret.id}`` (the project's
  encrypted vault: ``spark_etl.vault``);
* loads the local stack's endpoints (``.local/services.env``, written by ``kedro services up``)
  into the environment first, never over variables already set.

Arguments a project passes in ``CONFIG_LOADER_ARGS`` are merged over these defaults.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kedro.config import OmegaConfigLoader
from omegaconf.resolvers import oc

from spark_etl.runtime.env import load_services_env
from spark_etl.vault import vault_resolver

CONFIG_PATTERNS: dict[str, list[str]] = {
    "spark": ["spark*", "spark*/**"],
    "runtime": ["runtime*", "runtime*/**"],
    "services": ["services*", "services*/**"],
    "notifications": ["notifications*", "notifications*/**"],
    "clusters": ["clusters*", "clusters*/**"],
    "schedules": ["schedules*", "schedules*/**"],
}


class EtlConfigLoader(OmegaConfigLoader):
    """``OmegaConfigLoader`` with spark-etl's config patterns and resolvers (see the module)."""

    def __init__(
        self,
        conf_source: str | Path,
        env: str | None = None,
        runtime_params: dict[str, Any] | None = None,
        *,
        config_patterns: dict[str, list[str]] | None = None,
        custom_resolvers: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        source = Path(conf_source)
        load_services_env(source.parent if source.is_dir() else Path.cwd())
        kwargs.setdefault("base_env", "base")
        kwargs.setdefault("default_run_env", "local")
        with _kedro_resolver_warning_silenced():
            super().__init__(
                conf_source,
                env=env,
                runtime_params=runtime_params,
                config_patterns={**CONFIG_PATTERNS, **(config_patterns or {})},
                custom_resolvers={
                    "oc.env": oc.env,
                    "vault": vault_resolver,
                    **(custom_resolvers or {}),
                },
                **kwargs,
            )

    def __getitem__(self, key: str) -> Any:
        """The configuration of ``key`` (``catalog``, ``spark`` ...), as Kedro's loader has it."""
        with _kedro_resolver_warning_silenced():
            return super().__getitem__(key)


@contextmanager
def _kedro_resolver_warning_silenced() -> Iterator[None]:
    """Kedro 1.7 registers its resolvers with OmegaConf's deprecated call on every load: a
    warning no project can act on."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r"register_new_resolver\(\) is deprecated", UserWarning)
        yield
