"""The transform registry: a name, a function and the pydantic model of its parameters.

``apply`` is the one entry point nodes use: it validates the parameters and checks every column
they reference against the input's columns before Spark plans anything, then calls the function.
Spark's own analysis errors (a bad SQL expression, an unknown type) come back as ``TransformError``
naming the transform.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame

from spark_etl._durations import spark_interval
from spark_etl._suggest import did_you_mean
from spark_etl.transforms.exceptions import (
    TransformError,
    UnknownColumnError,
    UnknownTransformError,
    top_level,
)

TransformFn = Callable[..., DataFrame]
"""``fn(df: DataFrame, params: ParamsModel, **inputs: DataFrame) -> DataFrame``."""

FnT = TypeVar("FnT", bound=TransformFn)


def duration_micros(value: str) -> int:
    """The length of a duration string in microseconds.

    Args:
        value: a duration that ``Duration`` accepted, e.g. ``1 hour 30 minutes``.

    Returns:
        Its length in microseconds.
    """
    return spark_interval(value) // timedelta(microseconds=1)


def _duration(value: str) -> str:
    spark_interval(value)  # raises, saying how to write one
    return value.strip()


ColumnName = Annotated[str, Field(min_length=1)]
"""A column reference: ``a``, ``a.b`` for a nested field, ```a.b``` for a dotted name."""

Expression = Annotated[str, Field(min_length=1)]
"""A Spark SQL expression, as ``F.expr`` takes it."""

Duration = Annotated[str, AfterValidator(_duration)]
"""A fixed-length interval such as ``10 minutes`` (no months or years)."""


class TransformParams(BaseModel):
    """Base of every params model: unknown keys are errors, and models say which columns they use.

    Subclasses override ``columns_used`` to return the input columns their fields reference
    (``a.b`` for a nested field, ```a.b``` for a top-level name that contains a dot).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    def columns_used(self) -> set[str]:
        """The input columns these parameters reference.

        Returns:
            Column references; ``apply`` checks their top-level part against ``df.columns``.
        """
        return set()


@dataclass(frozen=True)
class Transform:
    """One registered transform.

    Attributes:
        name: the name nodes use in their parameters.
        fn: the function, ``fn(df, params, **inputs) -> DataFrame``.
        params: the pydantic model its parameters are validated with.
        inputs: the names of the extra DataFrames it takes as keywords (``right`` for a join).
    """

    name: str
    fn: TransformFn
    params: type[TransformParams]
    inputs: tuple[str, ...] = ()

    @property
    def summary(self) -> str:
        """The first line of the function's docstring."""
        return (self.fn.__doc__ or "").strip().split("\n", 1)[0]


_REGISTRY: dict[str, Transform] = {}


def register(
    name: str, params: type[TransformParams], inputs: Sequence[str] = ()
) -> Callable[[FnT], FnT]:
    """Decorator that registers a transform function under ``name``.

    Args:
        name: the name nodes use; must not be registered yet.
        params: the params model (a ``TransformParams`` subclass, so ``extra="forbid"``).
        inputs: keyword names of the extra DataFrames the function takes (``("right",)``).

    Returns:
        A decorator that records the function and returns it unchanged.

    Raises:
        TransformError: if the name is taken or the model does not forbid unknown parameters.
    """
    if name in _REGISTRY:
        raise TransformError(
            f"Transform '{name}' is registered twice: pick another name for the second one.", name
        )
    if params.model_config.get("extra") != "forbid":
        raise TransformError(
            f"Transform '{name}': params model {params.__name__} must set "
            "model_config = ConfigDict(extra='forbid') so mistyped parameters are reported.",
            name,
        )

    def decorator(fn: FnT) -> FnT:
        _REGISTRY[name] = Transform(name, fn, params, tuple(inputs))
        return fn

    return decorator


def get(name: str) -> Transform:
    """The transform registered under ``name``.

    Args:
        name: the registered name.

    Returns:
        The transform.

    Raises:
        UnknownTransformError: if nothing is registered under that name.
    """
    try:
        return _REGISTRY[name]
    except KeyError as exc:
        raise UnknownTransformError(name, _REGISTRY) from exc


def names() -> list[str]:
    """The registered transform names.

    Returns:
        The names, sorted.
    """
    return sorted(_REGISTRY)


def validate(name: str, params: Mapping[str, Any] | None) -> TransformParams:
    """Validate a node's parameters against the transform's model.

    Args:
        name: the registered transform name.
        params: the parameters as read from the configuration (``None`` means none).

    Returns:
        The validated params model.

    Raises:
        UnknownTransformError: if ``name`` is not registered.
        TransformError: if the parameters are not a mapping or do not fit the model; the message
            names each field path at fault.
    """
    model = get(name).params
    if params is not None and not isinstance(params, Mapping):
        raise TransformError(
            f"Transform '{name}': parameters must be a mapping of parameter names to values, "
            f"got {type(params).__name__}.",
            name,
        )
    booleans = [key for key in (params or {}) if isinstance(key, bool)]
    if booleans:
        raise TransformError(
            f"Transform '{name}': a parameter name was read as the boolean {booleans[0]}: YAML "
            "1.1 turns unquoted on/off/yes/no keys into booleans. Quote the key, as in "
            '{"on": [user_id]}.',
            name,
        )
    try:
        return model.model_validate(dict(params or {}))
    except ValidationError as exc:
        problems = "\n".join(f"  - {_describe(model, err)}" for err in exc.errors())
        raise TransformError(
            f"Transform '{name}': invalid parameters; fix them in the node's configuration:\n"
            f"{problems}",
            name,
        ) from exc


def apply(
    df: DataFrame, name: str, params: Mapping[str, Any] | None, **others: DataFrame
) -> DataFrame:
    """Validate the parameters, check the columns they name, and run the transform.

    Args:
        df: the input DataFrame (batch or streaming).
        name: the registered transform name.
        params: the parameters as read from the configuration.
        **others: the transform's extra inputs by name (``right=`` for a join).

    Returns:
        The transformed DataFrame (lazy: no Spark job has run).

    Raises:
        UnknownTransformError: if ``name`` is not registered.
        TransformError: on invalid parameters, missing or unexpected inputs, or when Spark's
            analysis rejects the plan (bad SQL expression, type, duration).
        UnknownColumnError: if a parameter names a column that ``df`` lacks.
    """
    transform = get(name)
    model = validate(name, params)
    _check_inputs(transform, others)
    check_columns(name, model.columns_used(), df.columns, model=model)
    try:
        return transform.fn(df, model, **others)
    except AnalysisException as exc:
        first = str(exc).strip().split("\n", 1)[0]
        raise TransformError(
            f"Transform '{name}': Spark rejected the parameters: {first} "
            "Fix the expression, type or column in the node's parameters.",
            name,
        ) from exc


def check_columns(
    name: str,
    columns: Iterable[str],
    available: Sequence[str],
    model: BaseModel | None = None,
    side: str = "input",
) -> None:
    """Check that every column reference resolves to a top-level column (case-insensitively).

    Args:
        name: the transform name, for the message.
        columns: column references (``a``, ``a.b`` nested, ```a.b``` a dotted name).
        available: the columns of the DataFrame checked.
        model: the params model, to name the parameter that holds a missing column.
        side: which input is checked, for the message.

    Raises:
        UnknownColumnError: for the first reference (in sorted order) that does not resolve.
    """
    present = {c.lower() for c in available}
    for column in sorted(columns):
        if top_level(column).lower() not in present:
            where = _locate(model.model_dump(), column) if model is not None else None
            raise UnknownColumnError(name, column, available, where, side)


def _check_inputs(transform: Transform, others: Mapping[str, DataFrame]) -> None:
    missing = [i for i in transform.inputs if i not in others]
    unexpected = [i for i in others if i not in transform.inputs]
    if missing or unexpected:
        expected = ", ".join(transform.inputs) or "none"
        raise TransformError(
            f"Transform '{transform.name}' takes these extra inputs: {expected}; missing: "
            f"{', '.join(missing) or 'none'}, unexpected: {', '.join(unexpected) or 'none'}. "
            "Fix the node's inputs.",
            transform.name,
        )


def _describe(model: type[BaseModel], err: Mapping[str, Any]) -> str:
    loc = tuple(err["loc"])
    path = ".".join(str(p) for p in loc) or "(parameters)"
    if err["type"] == "missing":
        return f"'{path}': {err['msg']}"
    if err["type"] != "extra_forbidden":
        return f"'{path}': {err['msg']} (got {err['input']!r})"
    allowed = sorted(_fields_at(model, loc[:-1]))
    return (
        f"'{path}': unknown parameter; allowed here: {', '.join(allowed)}."
        f"{did_you_mean(str(loc[-1]), allowed)}"
    )


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    current: type[BaseModel] | None = model
    for part in loc:
        if current is None or not isinstance(part, str) or part not in current.model_fields:
            continue
        current = _model_in(current.model_fields[part].annotation)
    return list(current.model_fields) if current is not None else []


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _locate(value: Any, column: str, path: str = "") -> str | None:
    targets = {column, column.strip("`")}
    if isinstance(value, Mapping):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if key in targets:
                return here
            found = _locate(item, column, here)
            if found:
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = _locate(item, column, f"{path}.{index}")
            if found:
                return found
    return path if isinstance(value, str) and value in targets else None


def require_batch(df: DataFrame, name: str, instead: str) -> None:
    """Refuse a streaming DataFrame in a transform that only works on batch data.

    Args:
        df: the input DataFrame.
        name: the transform name, for the message.
        instead: what to use on a stream instead, for the message.

    Raises:
        TransformError: if ``df`` is streaming.
    """
    if df.isStreaming:
        raise TransformError(
            f"Transform '{name}' works on batch DataFrames only, and its input is streaming. "
            f"{instead}",
            name,
        )


def quote(column: str) -> str:
    """Back-quote a top-level column name that contains a dot, so it is not read as nested.

    Args:
        column: a literal top-level column name.

    Returns:
        The name, back-quoted when it contains a dot.
    """
    return f"`{column}`" if "." in column else column
