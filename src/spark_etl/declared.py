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

Each file is validated against ``spark_etl/pipeline.schema.json`` (shipped with spark-etl; point an
editor's YAML schema at it) and every step's transform and
parameters against the transform registry when the pipelines are registered, before Spark starts;
every error names the file, the JSON path and the problem. Each step becomes one Kedro node (so
kedro-viz shows them), chained through in-memory datasets ``<id>__<n>_<transform>`` (Kedro
reserves dots in dataset names for namespaces).

Files are read from ``conf/base/pipelines/`` and from the run's environment
(``conf/<env>/pipelines/``); an env file replaces a base one of the same id. A file that is not
valid is skipped with a warning, and only a run of the pipeline it declares fails (with that
file's error).

A project's ``pipeline_registry.py`` registers them beside its modular pipelines with
:func:`project_pipelines`.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from kedro.framework import project as kedro_project
from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline, node, pipeline
from pyspark.sql import DataFrame

from spark_etl._suggest import did_you_mean
from spark_etl.exceptions import ConfigError
from spark_etl.transforms import TransformError, apply, get, validate

PIPELINES_ENV = "SPARK_ETL_PIPELINES_DIR"
logger = logging.getLogger(__name__)


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

    @property
    def parts(self) -> list[str]:
        """The pipelines a combined declaration runs together (empty for one with steps)."""
        return [str(p) for p in self.spec.get("pipelines") or []]

    def datasets(self) -> dict[str, str]:
        """Every catalog dataset the file names, with the JSON path that names it."""
        if self.parts:
            return {}
        named = {name: f"$.sources[{i}]" for i, name in enumerate(self.spec["sources"])}
        for i, step in enumerate(self.spec["steps"]):
            for key, name in (step.get("inputs") or {}).items():
                named.setdefault(name, f"$.steps[{i}].inputs.{key}")
        named[self.spec["sink"]["dataset"]] = "$.sink.dataset"
        return named


def _step(transform: str, params: dict[str, Any]) -> Callable[..., DataFrame]:
    """A node function running one transform, named ``apply_<transform>`` for Kedro's logs and
    kedro-viz. A plain function with annotations: Kedro reads a node function's type hints on
    every run (and warns about a callable object, whose hints it cannot read)."""

    def run_step(df: DataFrame, **inputs: DataFrame) -> DataFrame:
        return apply(df, transform, params, **inputs)

    run_step.__name__ = run_step.__qualname__ = f"apply_{transform}"
    return run_step


@dataclass(frozen=True)
class Skipped:
    """A declared-pipeline file that was not registered, and why."""

    path: Path
    #: the id the file declares, or its file name's stem when the id cannot be read
    id: str
    error: DeclaredPipelineError


@dataclass
class Declarations:
    """What the pipeline folders hold: the valid declarations and the files skipped."""

    found: list[Declaration] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    def skipped_for(self, name: str) -> Skipped | None:
        """The skipped file that declares pipeline ``name``, if any."""
        return next((s for s in self.skipped if s.id == name), None)


@dataclass(frozen=True)
class _ConfLocation:
    source: Path
    base_env: str
    run_env: str | None


#: Where the running session reads its configuration (set by the declared-pipelines hook when the
#: context exists): Kedro calls ``register_pipelines()`` with no arguments, so the run's
#: environment reaches the registry this way.
_conf_location: _ConfLocation | None = None


def use_conf(source: Path, base_env: str = "base", run_env: str | None = None) -> None:
    """Read declared pipelines from ``<source>/<base_env>/pipelines`` and the run's env."""
    global _conf_location  # noqa: PLW0603 - see _conf_location
    _conf_location = _ConfLocation(source, base_env, run_env)


def default_directories() -> list[Path]:
    """``$SPARK_ETL_PIPELINES_DIR``, else ``conf/base/pipelines`` and ``conf/<env>/pipelines``
    of the run (``KEDRO_ENV``, else ``local``), the env's files overriding base ones of the same
    id."""
    if os.environ.get(PIPELINES_ENV):
        return [Path(os.environ[PIPELINES_ENV])]
    where = _conf_location or _ConfLocation(Path.cwd() / "conf", "base", None)
    env = where.run_env or os.environ.get("KEDRO_ENV") or "local"
    folders = [where.source / where.base_env / "pipelines"]
    if env != where.base_env:
        folders.append(where.source / env / "pipelines")
    return folders


def default_directory() -> Path:
    """The base folder of declared pipelines (the first of :func:`default_directories`)."""
    return default_directories()[0]


def schema_path() -> Path:
    """The JSON Schema of declared pipelines, shipped with spark-etl."""
    return Path(str(files("spark_etl") / "pipeline.schema.json"))


def read_declarations(directories: Sequence[Path] | None = None) -> Declarations:
    """Read and validate every ``*.yml``, ``*.yaml`` and ``*.json`` file of ``directories``.

    A later folder's file replaces an earlier one's of the same id (an env overrides base). A
    file that is not valid is skipped, with its error, and does not stop the others.
    """
    schema = json.loads(schema_path().read_text(encoding="utf-8"))
    result = Declarations()
    by_id: dict[str, Declaration] = {}
    for folder in directories if directories is not None else default_directories():
        if not folder.is_dir():
            continue
        in_folder: dict[str, Path] = {}
        for path in sorted(p for p in folder.iterdir() if p.suffix in (".yml", ".yaml", ".json")):
            try:
                declaration = _load(path, schema)
                if declaration.id in in_folder:
                    raise DeclaredPipelineError(
                        f"{path}: $.id: pipeline '{declaration.id}' is already declared in "
                        f"{in_folder[declaration.id]}."
                    )
            except DeclaredPipelineError as exc:
                skipped = Skipped(path, _id_of(path), exc)
                result.skipped.append(skipped)
                if skipped.id not in in_folder:
                    # a broken override stands for its pipeline: the base file does not run
                    by_id.pop(skipped.id, None)
                continue
            in_folder[declaration.id] = path
            by_id[declaration.id] = declaration
    result.found = list(by_id.values())
    return result


def load_declarations(directory: Path | None = None) -> list[Declaration]:
    """The valid declarations of ``directory`` (default: :func:`default_directories`)."""
    return read_declarations([directory] if directory is not None else None).found


def _id_of(path: Path) -> str:
    """The id a file declares, as far as it can be read; else the file name's stem."""
    try:
        text = path.read_text(encoding="utf-8")
        spec = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError):
        return path.stem
    found = spec.get("id") if isinstance(spec, dict) else None
    return found if isinstance(found, str) and found else path.stem


def _load(path: Path, schema: dict[str, Any]) -> Declaration:
    try:
        text = path.read_text(encoding="utf-8")
        spec = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise DeclaredPipelineError(f"{path}: not valid {path.suffix[1:].upper()}: {exc}") from exc
    if isinstance(spec, dict) and "pipelines" in spec:
        extra = [key for key in ("sources", "steps", "sink") if key in spec]
        if extra:
            them = "them" if len(extra) > 1 else "it"
            raise DeclaredPipelineError(
                f"{path}: $.{extra[0]}: a combined pipeline (pipelines: [...]) runs other "
                f"pipelines and has no {', '.join(extra)}; remove {them}, or remove pipelines."
            )
    errors = sorted(
        jsonschema.Draft202012Validator(schema).iter_errors(spec),
        key=lambda e: list(e.absolute_path),
    )
    if errors:
        details = "; ".join(f"{e.json_path}: {e.message}" for e in errors)
        raise DeclaredPipelineError(f"{path}: {details} (see {schema_path()}).")
    for i, step in enumerate(spec.get("steps") or []):
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
            spec["sink"]["dataset"] if i == len(steps) - 1 else f"{pid}__{i}_{step['transform']}"
        )
        inputs = {"df": current, **(step.get("inputs") or {})}
        nodes.append(
            node(
                _step(step["transform"], step.get("params") or {}),
                inputs,
                output,
                name=f"{pid}.{i}_{step['transform']}",
            )
        )
        current = output
    return pipeline(nodes)


def declared_pipelines(directory: Path | None = None) -> dict[str, Pipeline]:
    """Every valid declared pipeline, built; a skipped file is logged with its error (running
    its pipeline reports that error)."""
    return _built(read_declarations([directory] if directory is not None else None))


def _built(read: Declarations) -> dict[str, Pipeline]:
    for skipped in read.skipped:
        logger.warning(
            "Declared pipeline file %s skipped: %s",
            skipped.path,
            skipped.error,
            extra={
                "event": "declared_pipeline_skipped",
                "file": str(skipped.path),
                "pipeline": skipped.id,
                "error": str(skipped.error),
            },
        )
    return {d.id: build(d) for d in read.found if not d.parts}


def retry_overrides(directory: Path | None = None) -> dict[str, dict[str, Any]]:
    """The ``retry`` sections of the declared pipelines, by pipeline id."""
    return {d.id: d.spec["retry"] for d in load_declarations(directory) if "retry" in d.spec}


def project_pipelines(
    default: Sequence[str] = (), combined: Mapping[str, Sequence[str]] | None = None
) -> dict[str, Pipeline]:
    """A project's pipelines: its modular ones (``<package>/pipelines/<name>/``, as Kedro's
    ``find_pipelines`` finds them) and the declared ones; ``__default__`` is the sum of ``default``
    (all of them when empty); each name of ``combined``, and each declared file with
    ``pipelines: [...]``, is the sum of the pipelines it lists (``{"nightly": ["ingest",
    "report"]}``: ``kedro run --pipelines nightly`` runs both, in the order their datasets ask
    for).

    Kedro loads only the pipelines a run asks for, so a default pipeline is left out of
    ``__default__`` when another one was requested; a combined pipeline loads its parts itself.

    Raises:
        DeclaredPipelineError: a declared or combined pipeline has the name of another one, or a
            combined one lists a pipeline the project does not have.
    """
    read = read_declarations()
    declared = _built(read)
    combinations = {d.id: d.parts for d in read.found if d.parts}
    both = set(combinations) & set(combined or {})
    if both:
        raise DeclaredPipelineError(
            f"Combined pipeline(s) {sorted(both)} are declared in conf/ and in the registry; "
            "keep one of them."
        )
    pipelines = _modular_pipelines()
    pipelines.pop("__default__", None)
    for name, built in declared.items():
        if name in pipelines:
            raise DeclaredPipelineError(
                f"Declared pipeline '{name}' has the name of a modular pipeline in the project's "
                "pipelines/ folder; rename one of them."
            )
        pipelines[name] = built
    for name, parts in {**combinations, **(combined or {})}.items():
        pipelines[name] = _combined(name, parts, pipelines)
    chosen = (
        [pipelines[name] for name in default if name in pipelines]
        if default
        else [*pipelines.values()]
    )
    pipelines["__default__"] = sum(chosen, start=Pipeline([]))
    return pipelines


def _combined(name: str, parts: Sequence[str], pipelines: dict[str, Pipeline]) -> Pipeline:
    """The sum of ``parts``, importing the modular ones Kedro's lazy loading left out."""
    if name in pipelines or name in _modules():
        raise DeclaredPipelineError(
            f"Combined pipeline '{name}' has the name of another pipeline; rename one of them."
        )
    total = Pipeline([])
    for part in parts:
        if part not in pipelines and part in _modules():
            module = importlib.import_module(f"{kedro_project.PACKAGE_NAME}.pipelines.{part}")
            pipelines[part] = module.create_pipeline()
        if part not in pipelines:
            raise DeclaredPipelineError(
                f"Combined pipeline '{name}' lists '{part}', which is not a pipeline of the "
                f"project.{did_you_mean(part, [*pipelines, *_modules()])}"
            )
        total += pipelines[part]
    return total


def _modules() -> set[str]:
    """The names of the project's modular pipelines (its ``pipelines/`` folders)."""
    if kedro_project.PACKAGE_NAME is None:
        return set()
    try:
        folder = files(f"{kedro_project.PACKAGE_NAME}.pipelines")
    except ModuleNotFoundError:
        return set()
    return {p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))}


def _modular_pipelines() -> dict[str, Pipeline]:
    try:
        return find_pipelines(raise_errors=True)
    except ImportError as exc:
        # Kedro's lazy loading asks the package finder for every requested name (declared ones,
        # a typo); it reports a name without a module with no cause, and the session then says
        # which pipelines exist. Any other failure (a broken pipeline module) stands.
        if exc.__cause__ is not None:
            raise
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return find_pipelines(raise_errors=False)
