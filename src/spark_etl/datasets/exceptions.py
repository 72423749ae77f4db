"""Errors of the source and sink strategies."""

from __future__ import annotations

from spark_etl.exceptions import (
    AuthenticationError,
    ConfigError,
    SourceUnavailableError,
    TerminalError,
    TransientError,
)

__all__ = [
    "AuthenticationError",
    "DatasetConfigError",
    "SourceMissingError",
    "SourceUnavailableError",
    "TableBusyError",
    "TableSchemaChangedError",
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


class TableBusyError(TransientError):
    """Another writer holds the table's writer lease: this write waited, and may run again."""


class TableSchemaChangedError(WriteRejectedError):
    """The data's columns differ from the table's and the catalog entry does not let the table's
    schema change; nothing was written."""
