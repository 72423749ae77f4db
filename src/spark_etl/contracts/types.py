"""Avro <-> Spark type mapping, as spark-avro reads and writes the types.

Records map to structs, arrays to arrays, maps to maps (string keys), ``["null", X]`` unions to a
nullable ``X``, enums to strings, ``fixed`` and ``bytes`` to binary, and the logical types
``timestamp-millis``/``timestamp-micros`` to timestamps, ``local-timestamp-*`` to timestamp_ntz,
``date`` to date and ``decimal`` to decimal(precision, scale). Other unions become a struct of
``member0``, ``member1``, ... as spark-avro does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyspark.sql import types as T

AvroType = str | dict[str, Any] | list[Any]

_PRIMITIVES: dict[str, T.DataType] = {
    "string": T.StringType(),
    "boolean": T.BooleanType(),
    "int": T.IntegerType(),
    "long": T.LongType(),
    "float": T.FloatType(),
    "double": T.DoubleType(),
    "bytes": T.BinaryType(),
    "null": T.NullType(),
}
_LOGICAL: dict[str, T.DataType] = {
    "timestamp-millis": T.TimestampType(),
    "timestamp-micros": T.TimestampType(),
    "local-timestamp-millis": T.TimestampNTZType(),
    "local-timestamp-micros": T.TimestampNTZType(),
    "date": T.DateType(),
}


def nullable_member(avro: AvroType) -> tuple[AvroType, bool]:
    """``(X, True)`` for a ``["null", X]`` union, else ``(avro, False)``."""
    if isinstance(avro, list):
        others = [m for m in avro if m != "null"]
        if len(others) == 1 and len(others) < len(avro):
            return others[0], True
    return avro, False


def to_spark(avro: AvroType) -> T.DataType:
    """The Spark type spark-avro uses for an Avro type (a parsed ``.avsc`` dict or a name)."""
    if isinstance(avro, str):
        return _PRIMITIVES.get(avro, T.StringType())
    if isinstance(avro, list):
        member, _ = nullable_member(avro)
        if member is not avro:
            return to_spark(member)
        members = [m for m in avro if m != "null"]
        return T.StructType(
            [T.StructField(f"member{i}", to_spark(m), True) for i, m in enumerate(members)]
        )
    return _complex_to_spark(avro)


def _complex_to_spark(avro: dict[str, Any]) -> T.DataType:
    logical = avro.get("logicalType")
    if logical == "decimal":
        return T.DecimalType(int(avro["precision"]), int(avro.get("scale", 0)))
    if logical in _LOGICAL:
        return _LOGICAL[logical]
    build = _BUILDERS.get(avro["type"])
    return build(avro) if build else to_spark(avro["type"])


def _array(avro: dict[str, Any]) -> T.DataType:
    _, nulls = nullable_member(avro["items"])
    return T.ArrayType(to_spark(avro["items"]), containsNull=nulls)


def _map(avro: dict[str, Any]) -> T.DataType:
    _, nulls = nullable_member(avro["values"])
    return T.MapType(T.StringType(), to_spark(avro["values"]), valueContainsNull=nulls)


def struct_of(record: dict[str, Any]) -> T.StructType:
    """The Spark struct of an Avro record; a field is nullable when its type is a null union."""
    fields = []
    for field in record["fields"]:
        _, nullable = nullable_member(field["type"])
        fields.append(T.StructField(field["name"], to_spark(field["type"]), nullable))
    return T.StructType(fields)


_BUILDERS: dict[str, Callable[[dict[str, Any]], T.DataType]] = {
    "record": struct_of,
    "array": _array,
    "map": _map,
    "enum": lambda _: T.StringType(),
    "fixed": lambda _: T.BinaryType(),
}


def to_avro(data_type: T.DataType, name: str, nullable: bool = False) -> AvroType:
    """The Avro type spark-avro writes for a Spark type (records named after ``name``)."""
    avro = _spark_to_avro(data_type, name)
    return ["null", avro] if nullable else avro


def _spark_to_avro(data_type: T.DataType, name: str) -> AvroType:
    if isinstance(data_type, T.StructType):
        return {
            "type": "record",
            "name": name,
            "fields": [
                {"name": f.name, "type": to_avro(f.dataType, f"{name}_{f.name}", f.nullable)}
                | ({"default": None} if f.nullable else {})
                for f in data_type.fields
            ],
        }
    if isinstance(data_type, T.ArrayType):
        return {
            "type": "array",
            "items": to_avro(data_type.elementType, name, data_type.containsNull),
        }
    if isinstance(data_type, T.MapType):
        return {
            "type": "map",
            "values": to_avro(data_type.valueType, name, data_type.valueContainsNull),
        }
    if isinstance(data_type, T.DecimalType):
        return {
            "type": "bytes",
            "logicalType": "decimal",
            "precision": data_type.precision,
            "scale": data_type.scale,
        }
    return _simple_to_avro(data_type)


def _simple_to_avro(data_type: T.DataType) -> AvroType:
    if isinstance(data_type, T.TimestampType):
        return {"type": "long", "logicalType": "timestamp-micros"}
    if isinstance(data_type, T.TimestampNTZType):
        return {"type": "long", "logicalType": "local-timestamp-micros"}
    if isinstance(data_type, T.DateType):
        return {"type": "int", "logicalType": "date"}
    for avro_name, spark_type in _PRIMITIVES.items():
        if data_type == spark_type:
            return avro_name
    if isinstance(data_type, (T.ShortType, T.ByteType)):
        return "int"
    raise TypeError(f"Spark type {data_type.simpleString()} has no Avro counterpart")
