"""Avro <-> Spark type mapping, checked against what spark-avro itself reads and writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import types as T

from spark_etl.contracts import SchemaRegistry
from spark_etl.contracts.types import to_avro, to_spark

ROOT = Path(__file__).resolve().parents[2] / "example"

EVERYTHING = {
    "type": "record",
    "name": "everything",
    "fields": [
        {"name": "s", "type": "string"},
        {"name": "i", "type": "int"},
        {"name": "l", "type": ["null", "long"], "default": None},
        {"name": "f", "type": "float"},
        {"name": "b", "type": "boolean"},
        {"name": "raw", "type": "bytes"},
        {"name": "fx", "type": {"type": "fixed", "name": "fx4", "size": 4}},
        {"name": "ts_ms", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "lts", "type": {"type": "long", "logicalType": "local-timestamp-micros"}},
        {"name": "d", "type": {"type": "int", "logicalType": "date"}},
        {
            "name": "dec",
            "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 3},
        },
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {"name": "scores", "type": {"type": "map", "values": ["null", "double"]}},
        {
            "name": "nested",
            "type": {"type": "record", "name": "inner", "fields": [{"name": "x", "type": "int"}]},
        },
        {"name": "either", "type": ["int", "string"]},
    ],
}


def test_every_avro_type_maps_to_spark() -> None:
    assert to_spark(EVERYTHING).simpleString() == (
        "struct<s:string,i:int,l:bigint,f:float,b:boolean,raw:binary,fx:binary,ts_ms:timestamp,"
        "lts:timestamp_ntz,d:date,dec:decimal(10,3),tags:array<string>,scores:map<string,double>,"
        "nested:struct<x:int>,either:struct<member0:int,member1:string>>"
    )
    struct = to_spark(EVERYTHING)
    assert isinstance(struct, T.StructType)
    assert struct["l"].nullable and not struct["s"].nullable


@pytest.mark.parametrize("name", SchemaRegistry(ROOT / "schemas").names())  # built-ins too
def test_mapping_matches_spark_avro_reading_the_schema(
    spark: SparkSession, tmp_path: Path, name: str
) -> None:
    contract = SchemaRegistry(ROOT / "schemas").get(name)
    empty = spark.createDataFrame([], contract.spark_schema)
    out = str(tmp_path / name)
    empty.write.format("avro").option("avroSchema", contract.avro_json).save(out)
    read = spark.read.format("avro").option("avroSchema", contract.avro_json).load(out)
    assert read.schema.simpleString() == contract.spark_schema.simpleString()


def test_spark_to_avro_round_trips() -> None:
    spark_type = T.StructType(
        [
            T.StructField("id", T.LongType(), False),
            T.StructField("when", T.TimestampType(), True),
            T.StructField("day", T.DateType(), False),
            T.StructField("ntz", T.TimestampNTZType(), False),
            T.StructField("price", T.DecimalType(12, 2), False),
            T.StructField("small", T.ShortType(), False),
            T.StructField("tags", T.ArrayType(T.StringType(), True), False),
            T.StructField("attrs", T.MapType(T.StringType(), T.LongType(), False), True),
            T.StructField("inner", T.StructType([T.StructField("x", T.DoubleType())]), False),
        ]
    )
    avro = to_avro(spark_type, "row")
    assert isinstance(avro, dict)
    assert avro["fields"][1] == {
        "name": "when",
        "type": ["null", {"type": "long", "logicalType": "timestamp-micros"}],
        "default": None,
    }
    back = to_spark(json.loads(json.dumps(avro)))
    assert back.simpleString() == spark_type.simpleString().replace("small:smallint", "small:int")


def test_spark_type_without_avro_counterpart_is_named() -> None:
    with pytest.raises(TypeError, match="interval"):
        to_avro(T.DayTimeIntervalType(), "x")
