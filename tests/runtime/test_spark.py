from __future__ import annotations

from pyspark.sql import SparkSession

from spark_etl.runtime import jars
from spark_etl.runtime.spark import get_spark


def test_session_has_connector_jars(spark: SparkSession) -> None:
    loaded = spark.sparkContext.getConf().get("spark.jars", "")
    for coordinate in jars.coordinates():
        artifact = coordinate.split(":")[1]
        assert artifact in loaded, f"{artifact} missing from spark.jars"


def test_get_spark_reuses_active_session(spark: SparkSession) -> None:
    assert get_spark({"spark.app.name": "other"}) is spark


def test_avro_connector_round_trip(spark: SparkSession, tmp_path) -> None:
    df = spark.createDataFrame([(1, "a"), (2, "b")], "id long, name string")
    df.write.format("avro").save(str(tmp_path / "out"))
    back = spark.read.format("avro").load(str(tmp_path / "out"))
    assert sorted(map(tuple, back.collect())) == [(1, "a"), (2, "b")]
