"""The local stack: real servers on 127.0.0.1 for a project's demo and tests
(``kedro services``)."""

from spark_etl.runtime.env import load_services_env, local_dir, services_env_file
from spark_etl.stack.services import (
    SERVERS,
    StackConfig,
    bootstrap,
    down,
    load_config,
    read_local_stack,
    status,
    up,
)

__all__ = [
    "SERVERS",
    "StackConfig",
    "bootstrap",
    "down",
    "load_config",
    "load_services_env",
    "local_dir",
    "read_local_stack",
    "services_env_file",
    "status",
    "up",
]
