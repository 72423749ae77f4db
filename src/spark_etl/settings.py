"""Kedro project settings: hooks, the config loader and the catalog's resolvers."""

from __future__ import annotations

import warnings

from kedro.config import OmegaConfigLoader
from omegaconf.resolvers import oc

from spark_etl.pipelines.declared import DeclaredPipelineHooks, retry_overrides
from spark_etl.runtime.contract_hooks import ContractHooks
from spark_etl.runtime.env import load_services_env
from spark_etl.runtime.hooks import SparkHooks
from spark_etl.runtime.run_hooks import RunHooks
from spark_etl.vault import vault_resolver

# Kedro 1.7's own config loader calls OmegaConf's deprecated register_new_resolver on every run;
# the warning is not actionable in a project, so it is kept out of the run log.
warnings.filterwarnings("ignore", r"register_new_resolver\(\) is deprecated", UserWarning)

# The local stack's endpoints (written by scripts/services.sh) feed ${oc.env:...} in conf/.
load_services_env()

HOOKS = (
    SparkHooks(),
    RunHooks(declared_retry=retry_overrides),
    ContractHooks(),
    DeclaredPipelineHooks(),
)

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "config_patterns": {
        "spark": ["spark*", "spark*/**"],
        "runtime": ["runtime*", "runtime*/**"],
    },
    # Endpoints may come from the environment anywhere in conf/; secrets from the vault
    # (${vault:postgres.password}) or the environment, only in credentials.yml.
    "custom_resolvers": {"oc.env": oc.env, "vault": vault_resolver},
}
