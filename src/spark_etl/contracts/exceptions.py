"""Errors of the data contracts: a broken schema file, an unknown schema, a violation."""

from __future__ import annotations

from typing import Any

from kedro.io import DatasetError

from spark_etl.exceptions import ConfigError, TerminalError


class SchemaFileError(ConfigError):
    """An ``.avsc`` file that is not a valid Avro schema (the message names the file and why)."""


class UnknownSchemaError(ConfigError):
    """A catalog entry names a schema that ``schemas/`` does not hold."""


class ContractViolationError(TerminalError, DatasetError):
    """Data that does not meet its contract: the run halts, and nothing is written.

    A ``DatasetError`` too, as Kedro's ``DataValidationError`` is: raised from a dataset's load or
    save, it reaches the caller as itself, not wrapped.

    Attributes:
        report: the structured details (dataset, schema, fields, sample records, counts) that the
            contract hook also logs as one event.
    """

    def __init__(self, message: str, report: dict[str, Any]) -> None:
        super().__init__(message)
        self.report = report


class GuardFiredError(TerminalError, DatasetError):
    """A check that ran inside a Spark job failed, but its full report can no longer be built."""
