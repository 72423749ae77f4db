"""Errors of the source and sink strategies."""

from __future__ import annotations

from spark_etl.exceptions import (
    AuthenticationError,
    ConfigError,
    SourceUnavailableError,
    TerminalError,
)

__all__ = [
    "AuthenticationError",
    "DatasetConfigError",
    "SourceMissingError",
    "SourceUnavailableError",
    "UndecodableRecordsError",
    "UnsafeIdentifierError",
    "WriteRejectedError",
]


class DatasetConfigError(ConfigError):
    """A catalog entry asks for something the dataset cannot do (a write mode, a missing option)."""


class UnsafeIdentifierError(DatasetConfigError):
    """A table or column name that is not a plain identifier: it is never put into SQL."""


class WriteRejectedError(TerminalError):
    """The sink refused the batch as a whole (a constraint violation, duplicate keys); nothing was
    written."""


class UndecodableRecordsError(TerminalError):
    """Source records the contract cannot decode (with ``on_decode_error: fail``)."""


class SourceMissingError(TerminalError):
    """A source to read is not there (no files at the path, no such table or topic)."""
