"""Private helper: pydantic's validation errors in one line, each with the key it is about."""

from __future__ import annotations

from pydantic import ValidationError


def problems(exc: ValidationError, prefix: str = "") -> str:
    """``key.path: message; ...`` for every error of ``exc`` (keys under ``prefix``)."""
    return "; ".join(
        f"{'.'.join([*([prefix] if prefix else []), *(str(p) for p in e['loc'])]) or '(top)'}: "
        f"{e['msg']}"
        for e in exc.errors()
    )
