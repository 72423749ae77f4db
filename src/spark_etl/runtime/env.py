"""Where a project's local stack keeps its state, and the endpoints file it writes.

``kedro services up`` writes ``.local/services.env`` (endpoints, never passwords: those are in the
project's vault); the project's config loader reads it so that ``${oc.env:SPARK_ETL_PG_URL}`` in
``conf/`` resolves to the local servers. ``SPARK_ETL_LOCAL`` moves the folder.
"""

from __future__ import annotations

import os
from pathlib import Path

from dotenv import dotenv_values, load_dotenv

LOCAL_ENV = "SPARK_ETL_LOCAL"


def local_dir(project: Path) -> Path:
    """The folder of the stack's data, logs and vault: ``$SPARK_ETL_LOCAL``, else
    ``<project>/.local``."""
    return Path(os.environ.get(LOCAL_ENV) or Path(project) / ".local").resolve()


def services_env_file(project: Path) -> Path:
    """Where ``kedro services up`` writes the endpoints of ``project``'s local stack."""
    return local_dir(project) / "services.env"


def load_services_env(project: Path) -> bool:
    """Load the endpoints into ``os.environ`` without overriding variables already set.

    Variables already in the environment win, so a deployment sets its own endpoints.

    Returns:
        Whether the file was there.
    """
    path = services_env_file(project)
    return path.is_file() and load_dotenv(path, override=False)


def services_env(project: Path) -> dict[str, str]:
    """The endpoints file of ``project`` as a mapping (empty when the stack never ran)."""
    path = services_env_file(project)
    values = dotenv_values(path) if path.is_file() else {}
    return {key: value for key, value in values.items() if value is not None}
