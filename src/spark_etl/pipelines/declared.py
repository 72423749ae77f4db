"""Pipelines declared in configuration alone: ``conf/<env>/pipelines/<id>.yml`` (or ``.json``).

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

Each file is validated against ``schemas/pipeline.schema.json`` and every step's transform and
parameters against the transform registry when the pipelines are registered, before Spark starts;
every error names the file, the JSON path and the problem. Each step becomes one Kedro node (so
kedro-viz shows them), chained through in-memory datasets ``<id>.<n>_<transform>``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema
import yaml
from kedro.framework.hooks import hook_impl
from kedro.pipeline import Pipeline, node, pipeline
from pyspark.sql import DataFrame

from spark_etl.exceptions import ConfigError
from spark_etl.transforms import TransformError, apply, get, validate

if TYPE_CHECKING:
    from kedro.io import CatalogProtocol

PIPELINES_ENV = "SPARK_ETL_PIPELINES_DIR"
_ROOT = Path(__file__).resolve().parents[3]


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
    """``$SPARK_ETL_PIPELINES_DIR``, else ``conf/base/pipelines`` here or in the checkout."""
    if os.environ.get(PIPELINES_ENV):
        return Path(os.environ[PIPELINES_ENV])
    here = Path.cwd() / "conf" / "base" / "pipelines"
    return here if here.is_dir() else _ROOT / "conf" / "base" / "pipelines"


def schema_path() -> Path:
    """The published JSON Schema of declared pipelines."""
    here = Path.cwd() / "schemas" / "pipeline.schema.json"
    return here if here.is_file() else _ROOT / "schemas" / "pipeline.schema.json"


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
        raise DeclaredPipelineError(f"{path}: {details} (see schemas/pipeline.schema.json).")
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


class DeclaredPipelineHooks:
    """Checks, when the catalog exists, that declared pipelines name real datasets and modes."""

    def __init__(self, directory: Path | None = None) -> None:
        self._directory = directory

    @hook_impl
    def after_catalog_created(self, catalog: CatalogProtocol) -> None:
        """Unknown datasets and mismatched write modes are named with their file and path."""
        for declaration in load_declarations(self._directory):
            for name, where in declaration.datasets().items():
                if name not in catalog:
                    raise DeclaredPipelineError(
                        f"{declaration.path}: {where}: dataset '{name}' is not in the catalog; "
                        "add it to conf/<env>/catalog.yml or fix the name."
                    )
            self._check_mode(declaration, catalog)

    @staticmethod
    def _check_mode(declaration: Declaration, catalog: CatalogProtocol) -> None:
        sink = declaration.spec["sink"]
        declared = sink.get("write_mode")
        actual = getattr(catalog.get(sink["dataset"]), "write_mode", None)
        if declared is not None and actual is not None and declared != actual:
            raise DeclaredPipelineError(
                f"{declaration.path}: $.sink.write_mode: '{declared}', but the catalog entry "
                f"'{sink['dataset']}' writes with '{actual}'; make them agree."
            )
