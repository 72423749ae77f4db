"""Real-Time Mode's check of a plan before its query starts: what it runs, what it refuses and
how the refusal reads. The plans are built from a Kafka stream that is never started (no broker
is asked); the pipelines that run are in tests/pipelines/test_streaming_real_time.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kedro.io import DatasetError
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import LongType

from spark_etl.datasets import DeltaDataset, JDBCDataset, KafkaDataset, S3Dataset
from spark_etl.datasets._real_time import refuse_unsupported, refused_operators
from spark_etl.datasets._streaming import trigger_args
from spark_etl.datasets.exceptions import DatasetConfigError

OWNER = "KafkaDataset 'events-out'"


@pytest.fixture
def stream(spark: SparkSession) -> DataFrame:
    """A Kafka stream's decoded shape, as a pipeline's steps see it."""
    raw = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", "127.0.0.1:1")
        .option("subscribe", "events")
        .load()
    )
    return raw.select(
        F.col("key").cast("string").alias("user_id"),
        F.col("value").cast("string").alias("event_type"),
        F.col("offset").alias("amount"),
        F.col("timestamp"),
    )


@pytest.fixture
def no_auto_broadcast(spark: SparkSession) -> Iterator[None]:
    before = spark.conf.get("spark.sql.autoBroadcastJoinThreshold")
    spark.conf.set("spark.sql.autoBroadcastJoinThreshold", "-1")
    yield
    spark.conf.set("spark.sql.autoBroadcastJoinThreshold", before)


def names(data: DataFrame) -> list[str]:
    return [r.operator for r in refused_operators(data)]


def test_stateless_steps_run_in_real_time(stream: DataFrame) -> None:
    steps = (
        stream.filter("amount >= 0")
        .withColumn("amount_cents", F.col("amount") * 100)
        .withColumn("tag", F.explode(F.array(F.lit("a"), F.lit("b"))))
        .withWatermark("timestamp", "1 minute")
        .observe("seen", F.count(F.lit(1)).alias("rows"))
        .select("user_id", "event_type", "amount_cents", "tag", "timestamp")
    )
    assert names(steps.unionByName(steps)) == []


def test_a_join_runs_when_spark_broadcasts_the_static_side(
    spark: SparkSession, stream: DataFrame, no_auto_broadcast: None
) -> None:
    users = spark.createDataFrame([("u1", "gold")], "user_id string, segment string")
    assert names(stream.join(users, "user_id", "left")) == ["Join"]
    assert names(stream.join(F.broadcast(users), "user_id", "left")) == []


def test_a_static_side_spark_knows_to_be_small_is_broadcast(
    spark: SparkSession, stream: DataFrame
) -> None:
    users = spark.range(100).select(F.col("id").cast("string").alias("user_id"))
    assert names(stream.join(users, "user_id")) == []


@pytest.mark.parametrize(
    ("step", "operator", "said"),
    [
        (lambda s: s.groupBy("event_type").count(), "Aggregate", "an aggregation"),
        (lambda s: s.dropDuplicates(["user_id"]), "Deduplicate", "a de-duplication"),
        (lambda s: s.orderBy("amount"), "Sort", "a sort"),
        (lambda s: s.repartition(4, "user_id"), "RepartitionByExpression", "a repartition"),
        (
            lambda s: s.withColumn("twice", F.udf(lambda v: v * 2, LongType())("amount")),
            "ArrowEvalPython",
            "a Python function (a UDF)",
        ),
    ],
)
def test_a_step_real_time_mode_does_not_run_is_refused_naming_it(
    stream: DataFrame, step: object, operator: str, said: str
) -> None:
    data = step(stream.filter("amount >= 0"))  # type: ignore[operator]
    with pytest.raises(DatasetConfigError) as refused:
        refuse_unsupported(data, OWNER, "append")
    message = str(refused.value)
    assert message.startswith(f"{OWNER}: trigger: real-time cannot run this pipeline")
    assert f"{said}" in message
    assert "trigger: 5 seconds" in message  # what to do
    assert operator in names(data)


def test_a_stream_that_is_not_kafka_is_refused(spark: SparkSession) -> None:
    rate = spark.readStream.format("rate").load()
    found = refused_operators(rate)
    assert [r.operator for r in found] == ["StreamingRelationV2"]


def test_output_mode_complete_is_refused(stream: DataFrame) -> None:
    with pytest.raises(DatasetConfigError, match="output_mode: complete rewrites a result"):
        refuse_unsupported(stream, OWNER, "complete")


def test_real_time_is_a_trigger_of_its_own() -> None:
    assert trigger_args("real-time") == {"realTime": "1 minute"}
    assert trigger_args("real_time") == {"realTime": "1 minute"}
    assert trigger_args({"realTime": "10 seconds"}) == {"realTime": "10 seconds"}


SETTINGS = {"checkpoint_location": "/tmp/unused", "trigger": "real-time"}


@pytest.mark.parametrize(
    ("sink", "said"),
    [
        (
            lambda: JDBCDataset(
                url="jdbc:postgresql://127.0.0.1:1/none", table="events", streaming=SETTINGS
            ),
            (
                "JDBCDataset: trigger: real-time is for KafkaDataset sinks only: this sink "
                "writes each micro-batch with its own batch write (foreachBatch)"
            ),
        ),
        (
            lambda: DeltaDataset(path="s3a://nowhere/events", streaming=SETTINGS),
            "DeltaDataset: trigger: real-time is for KafkaDataset sinks only",
        ),
        (
            lambda: S3Dataset(path="s3a://nowhere/events/", file_format="avro", streaming=SETTINGS),
            (
                "S3Dataset 's3a://nowhere/events/': trigger: real-time is for KafkaDataset "
                "sinks only: this sink writes with Spark's file sink"
            ),
        ),
    ],
)
def test_a_sink_other_than_kafka_refuses_real_time_naming_itself(
    stream: DataFrame, sink: Any, said: str
) -> None:
    dataset = sink()
    with pytest.raises(DatasetError) as refused:  # Kedro's, naming the dataset, around ours
        dataset.save(stream)
    assert isinstance(refused.value.__cause__, DatasetConfigError)
    assert str(refused.value.__cause__).startswith(said)
    assert not stream.sparkSession.streams.active


def _sql_distinct(data: DataFrame) -> DataFrame:
    data.createOrReplaceTempView("rtm_events")
    return data.sparkSession.sql("SELECT DISTINCT event_type FROM rtm_events")


@pytest.mark.parametrize(
    ("step", "operator"),
    [
        (lambda s: s.groupBy("event_type").count(), "Aggregate"),
        (lambda s: s.distinct(), "Deduplicate"),
        (_sql_distinct, "Distinct"),
        (lambda s: s.orderBy("amount"), "Sort"),
    ],
)
def test_on_empty_data_the_analyzed_plan_still_shows_the_step(
    spark: SparkSession, step: object, operator: str
) -> None:
    """The checks of a run give each node data with no rows (``limit(0)`` of a source): Spark's
    optimizer folds the steps over it into an empty relation, so the check reads the plan
    before that, where the limit of 0 is the check's own, not the pipeline's."""
    empty = spark.createDataFrame([], "user_id string, event_type string, amount long").limit(0)
    data = step(empty.filter("amount >= 0"))  # type: ignore[operator]
    assert names(data) == []  # optimized: an empty relation, nothing left to refuse
    assert [r.operator for r in refused_operators(data, optimized=False)] == [operator]
    assert [r.operator for r in refused_operators(data.limit(5), optimized=False)] == [
        "GlobalLimit",
        "LocalLimit",
        operator,
    ]  # a limit of the pipeline's own is refused


def test_on_empty_data_a_join_is_left_to_the_query_s_own_check(
    spark: SparkSession, no_auto_broadcast: None
) -> None:
    empty = spark.createDataFrame([], "user_id string, amount long")
    users = spark.createDataFrame([], "user_id string, segment string")
    assert refused_operators(empty.join(users, "user_id"), optimized=False) == []


def test_a_kafka_sink_in_real_time_reports_its_refusal_as_a_problem_of_the_run(
    spark: SparkSession,
) -> None:
    kafka = {"bootstrap_servers": "127.0.0.1:1", "metadata": {"schema": "user_event"}}
    sink = KafkaDataset(topic="events-out", streaming=SETTINGS, **kafka)
    empty = spark.createDataFrame([], "user_id string, event_type string, amount long")
    (problem,) = sink.stream_plan_problems(empty.groupBy("event_type").count())
    assert problem.startswith(f"{OWNER}: trigger: real-time cannot run this pipeline")
    assert (
        "an aggregation (group_by, aggregate, time_window, count, distinct): Aggregate" in problem
    )
    assert sink.stream_plan_problems(empty.filter("amount > 0")) == []
    micro = KafkaDataset(topic="events-out", streaming={**SETTINGS, "trigger": "1 second"}, **kafka)
    assert micro.stream_plan_problems(empty.groupBy("event_type").count()) == []


def test_a_sink_other_than_kafka_in_real_time_is_a_problem_of_the_run(spark: SparkSession) -> None:
    sink = JDBCDataset(url="jdbc:postgresql://127.0.0.1:1/none", table="events", streaming=SETTINGS)
    empty = spark.createDataFrame([], "user_id string, amount long")
    assert sink.stream_plan_problems(empty) == [
        (
            "JDBCDataset: trigger: real-time is for KafkaDataset sinks only: this sink "
            "writes each micro-batch with its own batch write (foreachBatch), which Spark's "
            "Real-Time Mode does not run. Use a micro-batch trigger (trigger: 1 second, or 0 "
            "seconds for the next batch at once), or write to a Kafka topic in real time and "
            "load it from there."
        )
    ]
