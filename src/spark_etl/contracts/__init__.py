"""Data contracts: Avro schemas in ``schemas/``, their Spark types, and the checks that halt a run.

A catalog entry names its contract in its metadata (``metadata: {schema: user_event}``); the
contract hook (``spark_etl.runtime.contract_hooks``) checks the data on load and before save: the
structure at once, the values inside the job that writes the data (``guards``).
"""

from spark_etl.contracts.exceptions import (
    ContractViolationError,
    SchemaFileError,
    UnknownSchemaError,
)
from spark_etl.contracts.registry import (
    Contract,
    SchemaRegistry,
    default_registry,
    schemas_directory,
    use_registry,
)
from spark_etl.contracts.validation import FieldIssue, conform, guarded, validate

__all__ = [
    "Contract",
    "ContractViolationError",
    "FieldIssue",
    "SchemaFileError",
    "SchemaRegistry",
    "UnknownSchemaError",
    "conform",
    "default_registry",
    "guarded",
    "schemas_directory",
    "use_registry",
    "validate",
]
