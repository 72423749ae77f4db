"""The root of every error spark-etl raises, and the two kinds the retry policy reads.

``TransientError`` (a server down, a timeout, a broken connection) is retried by the runtime;
``TerminalError`` (bad config, a schema violation, an authentication failure, a missing secret) is
reported at once. Each stage adds narrow subclasses in its own ``exceptions`` module. Messages name
the pipeline, node or dataset and the offending field or record, say what to do, and never carry a
secret.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar


class EtlError(Exception):
    """Base class of all spark-etl errors."""

    transient: ClassVar[bool] = False


class TransientError(EtlError):
    """A failure that may go away by itself: retrying the run is worth it."""

    transient = True


class TerminalError(EtlError):
    """A failure that retrying cannot fix: the run stops at once."""

    transient = False


class ConfigError(TerminalError):
    """Invalid configuration: a catalog entry, parameter or pipeline declaration is wrong."""


class SourceUnavailableError(TransientError):
    """A server (database, broker, object store) did not answer or dropped the connection."""


class AuthenticationError(TerminalError):
    """A server refused the credentials it was given."""


def causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and its causes (``__cause__``, else ``__context__``), outermost first."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__
