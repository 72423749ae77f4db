"""Private helpers: settings a user wrote, validated by their pydantic model, and the errors in
one line, each with the key it is about."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from spark_etl.exceptions import ConfigError

Model = TypeVar("Model", bound=BaseModel)


def validated(model: type[Model], raw: Any, *, key: str, what: str, source: str) -> Model:
    """``model`` made of ``raw`` (the section ``key`` of ``source``; ``None`` is empty).

    Raises:
        ConfigError: ``Invalid <what> in <source>: <key path>: <problem> (the value is ...)``.
    """
    if raw is not None and not isinstance(raw, dict):
        raise ConfigError(f"Invalid {what} in {source}: {key} must be a mapping, not {raw!r}.")
    try:
        return model(**(raw or {}))
    except ValidationError as exc:
        said = problems(exc, key, values=True)
        raise ConfigError(f"Invalid {what} in {source}: {said}.") from exc


def validated_entries(
    model: type[Model], raw: Any, *, key: str, what: str, source: str
) -> dict[str, Model]:
    """Each named entry under ``key`` of ``source`` (``clusters: {name: {...}}``), validated.

    Raises:
        ConfigError: naming the file, the entry, the key and the problem.
    """
    entries = (raw or {}).get(key, raw or {}) if isinstance(raw, dict) else raw
    if not isinstance(entries, dict):
        raise ConfigError(f"{source}: {key} must map names to their settings.")
    return {
        str(name): validated(model, settings, key=f"{key}.{name}", what=what, source=source)
        for name, settings in entries.items()
    }


def problems(exc: ValidationError, prefix: str = "", *, values: bool = False) -> str:
    """``key.path: message; ...`` for every error of ``exc`` (keys under ``prefix``); with
    ``values``, each followed by ``(the value is ...)`` (config a user wrote, never secrets)."""
    return "; ".join(_problem(e, prefix, values) for e in exc.errors())


def _problem(error: ErrorDetails, prefix: str, values: bool) -> str:
    key = ".".join([*([prefix] if prefix else []), *(str(p) for p in error["loc"])]) or "(top)"
    said = f"{key}: {error['msg'].removeprefix('Value error, ')}"  # a validator's own words
    return f"{said} (the value is {error['input']!r})" if values else said
