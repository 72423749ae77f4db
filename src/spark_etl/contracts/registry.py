"""The schema registry: every ``schemas/*.avsc`` file, parsed and checked once at start-up.

A catalog entry names its contract by the record name, which is also the file's stem:
``metadata: {schema: user_event}`` means ``schemas/user_event.avsc``. The records spark-etl itself
writes (``dead_letter``, the dead-letter queue's) are built in: their files ship with the package.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import cached_property
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastavro.schema import SchemaParseException, parse_schema
from pyspark.sql import types as T

from spark_etl._suggest import did_you_mean
from spark_etl.contracts.exceptions import SchemaFileError, UnknownSchemaError
from spark_etl.contracts.types import nullable_member, struct_of

SCHEMAS_ENV = "SPARK_ETL_SCHEMAS_DIR"
#: The contracts of the records spark-etl writes itself.
BUILT_IN = ("dead_letter",)


def _built_in_files() -> list[Path]:
    folder = Path(str(files("spark_etl.contracts")))
    return [folder / f"{name}.avsc" for name in BUILT_IN]


@dataclass(frozen=True)
class Contract:
    """One registered Avro record schema and what the checks need from it."""

    name: str
    path: Path
    avro: dict[str, Any] = field(repr=False)

    @cached_property
    def spark_schema(self) -> T.StructType:
        """The Spark struct spark-avro reads this schema as."""
        return struct_of(self.avro)

    @property
    def avro_json(self) -> str:
        """The schema as JSON text (spark-avro's ``avroSchema`` option, ``to_avro``)."""
        return json.dumps(self.avro)

    @cached_property
    def enums(self) -> dict[str, list[str]]:
        """Top-level enum fields and their symbols."""
        found = {}
        for f in self.avro["fields"]:
            member, _ = nullable_member(f["type"])
            if isinstance(member, dict) and member.get("type") == "enum":
                found[f["name"]] = list(member["symbols"])
        return found

    @property
    def avro_field_names(self) -> list[str]:
        """The top-level field names, in order."""
        return [f["name"] for f in self.avro["fields"]]

    @cached_property
    def required(self) -> list[str]:
        """Top-level fields that may not be null."""
        return [f.name for f in self.spark_schema.fields if not f.nullable]


class SchemaRegistry:
    """The ``.avsc`` files of one folder, keyed by record name."""

    def __init__(self, directory: Path, origin: str = "") -> None:
        self._directory = Path(directory)
        #: what chose the folder, for messages (`` (SPARK_ETL_SCHEMAS_DIR)``; empty: the default)
        self._origin = f" ({origin})" if origin else ""
        self._contracts: dict[str, Contract] | None = None

    @property
    def directory(self) -> Path:
        """The folder the schemas come from."""
        return self._directory

    def load(self) -> dict[str, Contract]:
        """Parse and check every file, once.

        Raises:
            SchemaFileError: naming the file and the reason, for the first broken file.
        """
        if self._contracts is None:
            if not self._directory.is_dir():
                raise SchemaFileError(
                    f"Schema folder '{self._directory}'{self._origin} not found: create it with "
                    f"one .avsc per record type, or point {SCHEMAS_ENV} or runtime.yml's "
                    "schemas_dir at the folder that has them."
                )
            contracts = [_load_file(p) for p in sorted(self._directory.glob("*.avsc"))]
            for contract in contracts:
                if contract.name in BUILT_IN:
                    raise SchemaFileError(
                        f"Schema file '{contract.path}' redefines '{contract.name}', which is "
                        "built into spark-etl (it describes records spark-etl writes): remove "
                        "the file."
                    )
            built_in = [_load_file(p) for p in _built_in_files()]
            self._contracts = {c.name: c for c in [*built_in, *contracts]}
        return self._contracts

    def names(self) -> list[str]:
        """The registered schema names, sorted."""
        return sorted(self.load())

    def get(self, name: str) -> Contract:
        """The contract called ``name``.

        Raises:
            UnknownSchemaError: with the closest registered names.
        """
        contracts = self.load()
        if name in contracts:
            return contracts[name]
        hint = did_you_mean(name, contracts)
        elsewhere = (
            ""
            if self._origin
            else f" (for contracts in another folder, set {SCHEMAS_ENV} or runtime.yml's "
            "schemas_dir)"
        )
        raise UnknownSchemaError(
            f"Schema '{name}' is not in {self._directory}{self._origin} (known: "
            f"{', '.join(sorted(contracts))}).{hint} Add {self._directory / name}.avsc"
            f"{elsewhere}, or fix the catalog's metadata.schema."
        )


def _load_file(path: Path) -> Contract:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SchemaFileError(
            f"Schema file '{path}' is not valid JSON: {exc.msg} at line {exc.lineno}, column "
            f"{exc.colno}."
        ) from exc
    try:
        parse_schema(raw, _write_hint=False, _force=True)
    except (SchemaParseException, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise SchemaFileError(f"Schema file '{path}' is not a valid Avro schema: {exc}.") from exc
    if not isinstance(raw, dict) or raw.get("type") != "record":
        raise SchemaFileError(f"Schema file '{path}' must hold one Avro record at the top level.")
    if raw["name"] != path.stem:
        raise SchemaFileError(
            f"Schema file '{path}' defines record '{raw['name']}': name the file "
            f"'{raw['name']}.avsc' or the record '{path.stem}', so the catalog can find it."
        )
    return Contract(name=path.stem, path=path, avro=raw)


_default: SchemaRegistry | None = None


def schemas_directory(
    project_path: Path | None = None, configured: str | None = None
) -> tuple[Path, str]:
    """Where the project's contracts are, and what chose the folder (for messages).

    ``$SPARK_ETL_SCHEMAS_DIR`` first (relative to the working directory, as ``spark-submit``
    sets it), then ``configured`` (``runtime.yml``'s ``schemas_dir``, relative to the project),
    then the project's ``schemas/`` (the working directory's without a project).
    """
    from_env = os.environ.get(SCHEMAS_ENV)
    if from_env:
        return Path(from_env), SCHEMAS_ENV
    root = project_path if project_path is not None else Path.cwd()
    if configured:
        return root / configured, "runtime.yml schemas_dir"
    return root / "schemas", ""


def default_registry() -> SchemaRegistry:
    """The process's registry: the one :func:`use_registry` set, else the folder
    :func:`schemas_directory` names for the working directory."""
    global _default  # noqa: PLW0603 - one registry per process, replaced by use_registry()
    if _default is None:
        _default = SchemaRegistry(*schemas_directory())
    return _default


def use_registry(directory: Path, origin: str = "") -> SchemaRegistry:
    """Make the schemas of ``directory`` the process's default (the contract hook calls this);
    ``origin`` says what chose the folder."""
    global _default  # noqa: PLW0603
    _default = SchemaRegistry(directory, origin)
    return _default
