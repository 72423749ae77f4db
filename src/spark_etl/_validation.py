"""Private helper: pydantic's validation errors in one line, each with the key it is about."""

from __future__ import annotations

from pydantic import ValidationError
from pydantic_core import ErrorDetails


def problems(exc: ValidationError, prefix: str = "", *, values: bool = False) -> str:
    """``key.path: message; ...`` for every error of ``exc`` (keys under ``prefix``); with
    ``values``, each followed by ``(the value is ...)`` (config a user wrote, never secrets)."""
    return "; ".join(_problem(e, prefix, values) for e in exc.errors())


def _problem(error: ErrorDetails, prefix: str, values: bool) -> str:
    key = ".".join([*([prefix] if prefix else []), *(str(p) for p in error["loc"])]) or "(top)"
    said = f"{key}: {error['msg'].removeprefix('Value error, ')}"  # a validator's own words
    return f"{said} (the value is {error['input']!r})" if values else said
