"""Values of the JDBC strategy that a database column cannot hold as Spark does.

Maps, arrays and structs are stored as JSON text (``jsonb`` in PostgreSQL, ``JSON`` in MySQL: the
type each dialect creates them with) and read back as the contract's types.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, MapType, StringType, StructType

if TYPE_CHECKING:
    from spark_etl.contracts import Contract


def json_to_nested(data: DataFrame, contract: Contract | None) -> DataFrame:
    """Maps, arrays and structs were stored as JSON text (jsonb / JSON): read them back as the
    contract's types, so what a save wrote is what a load returns."""
    if contract is None:
        return data
    wanted = {f.name: f.dataType for f in contract.spark_schema.fields}
    nested = (MapType, ArrayType, StructType)
    for field in data.schema.fields:
        target = wanted.get(field.name)
        if isinstance(target, nested) and isinstance(field.dataType, StringType):
            data = data.withColumn(
                field.name, F.from_json(F.col(field.name), target.simpleString())
            )
    return data


def nested_to_json(data: DataFrame) -> DataFrame:
    """Maps, arrays and structs become JSON text (``jsonb``/``JSON`` columns in the database)."""
    nested = [
        f.name
        for f in data.schema.fields
        if isinstance(f.dataType, MapType | ArrayType | StructType)
    ]
    if not nested:
        return data
    return data.withColumns({name: F.to_json(F.col(name)) for name in nested})
