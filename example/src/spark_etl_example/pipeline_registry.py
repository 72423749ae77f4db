"""The project's pipelines: the modules of ``pipelines/``, the files of ``conf/*/pipelines/``."""

from __future__ import annotations

from kedro.pipeline import Pipeline
from spark_etl.declared import project_pipelines

#: What ``kedro run`` without ``--pipelines`` runs.
DEFAULT = ("batch_s3_pg", "batch_event_counts")


def register_pipelines() -> dict[str, Pipeline]:
    """Every pipeline by name, and ``__default__``.

    Returns:
        A mapping from pipeline names to ``Pipeline`` objects.
    """
    return project_pipelines(default=DEFAULT)
