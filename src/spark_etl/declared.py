"""Pipelines declared in configuration alone: ``conf/base/pipelines/<id>.yml`` (or ``.json``).

::

    id: batch_completed_revenue
    sources: [enriched_transactions]
    steps:
      - {transform: filter, params: {condition: "status = 'completed'"}}
      - transform: join
        params: {"on": [user_id]}
        inputs: {right: users_ref}
    sink: {dataset: country_revenue, write_mode: overwrite}
    retry: {retries: 2, delay: 1}

Each file is validated against ``spark_etl/pipeline.schema.json`` (shipped with spark-etl; point an
editor's YAML schema at it) and every step's transform and
parameters against the transform registry when the pipelines are registered, before Spark starts;
every error names the file, the JSON path and the problem. Each step becomes one Kedro node (so
kedro-viz shows them), chained through in-memory datasets ``<id>.<n>_<transform>``.

A project's ``pipeline_registry.py`` registers them beside its modular pipelines with
:func:`project_pipelines`.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline, node, pipeline
from pyspark.sql import DataFrame

from spark_etl.exceptions import ConfigError
from spark_etl.transforms import TransformError, apply, get, validate

PIPELINES_ENV = "SPARK_ETL_PIPELINES_DIR"


class DeclaredPipelineError(ConfigError):
    """A declared pipeline file that is not valid (the message names file and JSON path)."""


@dataclass(frozen=True)
class Declaration:
    """One validated pipeline file."""

    path: Path
    spec: dict[str, Any] = field(repr=False)

    @property
    def id(self) -> str:
        """The pipeline's name."""
        return str(self.spec["id"])

    def datasets(self) -> dict[str, str]:
        """Every catalog dataset the file names, with the JSON path that names it."""
        named = {name: f"$.sources[{i}]" for i, name in enumerate(self.spec["sources"])}
        for i, step in enumerate(self.spec["steps"]):
            for key, name in (step.get("inputs") or {}).items():
                named.setdefault(name, f"$.steps[{i}].inputs.{key}")
        named[self.spec["sink"]["dataset"]] = "$.sink.dataset"
        return named


class _Step:
    """A node function running one transform (named for Kedro's logs and kedro-viz)."""

    def __init__(self, transform: str, params: dict[str, Any]) -> None:
        self.transform, self.params = transform, params
        self.__name__ = f"apply_{transform}"

    def __call__(self, df: DataFrame, **inputs: DataFrame) -> DataFrame:
        return apply(df, self.transform, self.params, **inputs)


def default_directory() -> Path:
    """``$SPARK_ETL_PIPELINES_DIR``, else the project's ``conf/base/pipelines``."""
    if os.environ.get(PIPELINES_ENV):
        return Path(os.environ[PIPELINES_ENV])
    return Path.cwd() / "conf" / "base" / "pipelines"


def schema_path() -> Path:
    """The JSON Schema of declared pipelines, shipped with spark-etl."""
    return Path(str(files("spark_etl") / "pipeline.schema.json"))


def load_declarations(directory: Path | None = None) -> list[Declaration]:
    """Read and validate every ``*.yml``, ``*.yaml`` and ``*.json`` file of ``directory``.

    Raises:
        DeclaredPipelineError: naming the file, the JSON path and the problem.
    """
    folder = directory or default_directory()
    if not folder.is_dir():
        return []
    schema = json.loads(schema_path().read_text(encoding="utf-8"))
    files = sorted(p for p in folder.iterdir() if p.suffix in (".yml", ".yaml", ".json"))
    declarations = [_load(path, schema) for path in files]
    seen: dict[str, Path] = {}
    for declaration in declarations:
        if declaration.id in seen:
            raise DeclaredPipelineError(
                f"{declaration.path}: $.id: pipeline '{declaration.id}' is already declared in "
                f"{seen[declaration.id]}."
            )
        seen[declaration.id] = declaration.path
    return declarations


def _load(path: Path, schema: dict[str, Any]) -> Declaration:
    try:
        text = path.read_text(encoding="utf-8")
        spec = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise DeclaredPipelineError(f"{path}: not valid {path.suffix[1:].upper()}: {exc}") from exc
    errors = sorted(
        jsonschema.Draft202012Validator(schema).iter_errors(spec),
        key=lambda e: list(e.absolute_path),
    )
    if errors:
        details = "; ".join(f"{e.json_path}: {e.message}" for e in errors)
        raise DeclaredPipelineError(f"{path}: {details} (see {schema_path()}).")
    for i, step in enumerate(spec["steps"]):
        _check_step(path, i, step)
    return Declaration(path=path, spec=spec)


def _check_step(path: Path, index: int, step: dict[str, Any]) -> None:
    where = f"{path}: $.steps[{index}]"
    try:
        transform = get(step["transform"])
        validate(transform.name, step.get("params") or {})
    except TransformError as exc:
        raise DeclaredPipelineError(f"{where}: {exc}") from exc
    given, wanted = set(step.get("inputs") or {}), set(transform.inputs)
    if given != wanted:
        raise DeclaredPipelineError(
            f"{where}.inputs: transform '{transform.name}' takes the inputs "
            f"{sorted(wanted) or 'none'}, the file gives {sorted(given) or 'none'}."
        )


def build(declaration: Declaration) -> Pipeline:
    """The Kedro pipeline of one declaration: one node per step."""
    spec, pid = declaration.spec, declaration.id
    steps = spec["steps"]
    nodes = []
    current = spec["sources"][0]
    for i, step in enumerate(steps):
        output = (
            spec["sink"]["dataset"] if i == len(steps) - 1 else f"{pid}.{i}_{step['transform']}"
        )
        inputs = {"df": current, **(step.get("inputs") or {})}
        nodes.append(
            node(
                _Step(step["transform"], step.get("params") or {}),
                inputs,
                output,
                name=f"{pid}.{i}_{step['transform']}",
            )
        )
        current = output
    return pipeline(nodes)


def declared_pipelines(directory: Path | None = None) -> dict[str, Pipeline]:
    """Every declared pipeline, built."""
    return {d.id: build(d) for d in load_declarations(directory)}


def retry_overrides(directory: Path | None = None) -> dict[str, dict[str, Any]]:
    """The ``retry`` sections of the declared pipelines, by pipeline id."""
    return {d.id: d.spec["retry"] for d in load_declarations(directory) if "retry" in d.spec}


def project_pipelines(default: Sequence[str] = ()) -> dict[str, Pipeline]:
    """A project's pipelines: its modular ones (``<package>/pipelines/<name>/``, as Kedro's
    ``find_pipelines`` finds them) and the declared ones; ``__default__`` is the sum of ``default``
    (all of them when empty).

    Kedro loads only the pipelines a run asks for, so a default pipeline is left out of
    ``__default__`` when another one was requested.

    Raises:
        DeclaredPipelineError: a declared pipeline has the name of a modular one.
    """
    declared = declared_pipelines()
    pipelines = _modular_pipelines(set(declared))
    pipelines.pop("__default__", None)
    for name, built in declared.items():
        if name in pipelines:
            raise DeclaredPipelineError(
                f"Declared pipeline '{name}' has the name of a modular pipeline in the project's "
                "pipelines/ folder; rename one of them."
            )
        pipelines[name] = built
    chosen = (
        [pipelines[name] for name in default if name in pipelines]
        if default
        else [*pipelines.values()]
    )
    pipelines["__default__"] = sum(chosen, start=Pipeline([]))
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
