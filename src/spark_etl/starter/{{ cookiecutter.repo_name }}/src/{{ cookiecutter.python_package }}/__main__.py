"""``python -m {{ cookiecutter.python_package }} --pipelines NAME``: run the project as ``kedro run``
would (the packaged project's entry point, and the one of ``spark-submit``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from kedro.framework.cli.utils import find_run_command
from kedro.framework.project import configure_project


def main(*args: Any, **kwargs: Any) -> Any:
    """Configure the project and call its run command (spark-etl's retrying ``run``)."""
    package_name = Path(__file__).parent.name
    configure_project(package_name)
    kwargs["standalone_mode"] = not hasattr(sys, "ps1")
    run = find_run_command(package_name)
    return run(*args, **kwargs)


if __name__ == "__main__":
    main()
