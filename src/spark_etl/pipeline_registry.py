"""Project pipelines."""

from __future__ import annotations

import warnings

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

from spark_etl.pipelines.declared import DeclaredPipelineError, declared_pipelines

DEFAULT_PIPELINE = "batch_s3_pg"


def register_pipelines() -> dict[str, Pipeline]:
    """The modular pipelines under ``spark_etl/pipelines/`` and the pipelines declared in
    ``conf/base/pipelines/``; ``__default__`` is ``batch_s3_pg``.

    Kedro loads only the pipelines a run asks for, so ``batch_s3_pg`` is absent when another one
    was requested.

    Returns:
        A mapping from pipeline names to ``Pipeline`` objects.
    """
    declared = declared_pipelines()
    pipelines = _modular_pipelines(set(declared))
    for name, built in declared.items():
        if name in pipelines:
            raise DeclaredPipelineError(
                f"Declared pipeline '{name}' has the name of a modular pipeline in "
                "spark_etl/pipelines/; rename one of them."
            )
        pipelines[name] = built
    if DEFAULT_PIPELINE in pipelines:
        pipelines["__default__"] = pipelines[DEFAULT_PIPELINE]
    return pipelines


def _modular_pipelines(declared: set[str]) -> dict[str, Pipeline]:
    try:
        return find_pipelines(raise_errors=True)
    except ImportError as exc:
        # Kedro's lazy loading asks the package finder for every requested name, declared ones
        # too; it reports a name without a module with no cause. Any other failure stands.
        if exc.__cause__ is not None or not any(f".pipelines.{n}'" in str(exc) for n in declared):
            raise
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return find_pipelines(raise_errors=False)
