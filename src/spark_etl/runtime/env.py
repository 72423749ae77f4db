"""Endpoints of the local stack: ``scripts/services.sh up`` writes ``.local/services.env``."""

from __future__ import annotations

from pathlib import Path

from dotenv import load_dotenv

from spark_etl.runtime.jars import project_root


def services_env_file() -> Path:
    """Where the services script writes its endpoints."""
    return project_root() / ".local" / "services.env"


def load_services_env() -> bool:
    """Load the endpoints into ``os.environ`` without overriding variables already set.

    Variables already in the environment win, so a deployment sets its own endpoints.

    Returns:
        Whether the file was there.
    """
    path = services_env_file()
    return path.is_file() and load_dotenv(path, override=False)
