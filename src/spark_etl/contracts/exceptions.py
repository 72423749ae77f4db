"""Errors of the data contracts: a broken schema file, an unknown schema, a violation."""

from __future__ import annotations

from typing import Any

from spark_etl.exceptions import ConfigError, TerminalError


class SchemaFileError(ConfigError):
    """An ``.avsc`` file that is not a valid Avro schema (the message names the file and why)."""


class UnknownSchemaError(ConfigError):
    """A catalog entry names a schema that ``schemas/`` does not hold."""


class ContractViolationError(TerminalError):
    """Data that does not meet its contract: the run halts before anything later runs or is written.

    Attributes:
        report: the structured details (dataset, schema, fields, sample records, counts) that the
            contract hook also logs as one event.
    """

    def __init__(self, message: str, report: dict[str, Any]) -> None:
        super().__init__(message)
        self.report = report
