"""aggregate: plain aggregates, rounding, collect_map value counts, empty and streaming input."""

from __future__ import annotations

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.testing import assertDataFrameEqual

from spark_etl.transforms import TransformError, apply

DDL = "user_id string, event_type string, amount double"


@pytest.fixture
def events(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame(
        [
            ("u1", "click", 1.25),
            ("u1", "click", 2.0),
            ("u1", "purchase", 10.0),
            ("u2", "view", None),
            ("u2", None, 3.333),
            (None, "click", 4.0),
        ],
        DDL,
    )


def test_plain_aggregates_per_group_with_nulls_and_rounding(events: DataFrame) -> None:
    params = {
        "group_by": ["user_id"],
        "aggregations": [
            {"function": "count", "alias": "events"},
            {"function": "count", "column": "amount", "alias": "with_amount"},
            {"function": "sum", "column": "amount", "alias": "total", "round": 1},
            {"function": "avg", "column": "amount", "round": 1},
            {"function": "min", "column": "amount"},
            {"function": "max", "column": "event_type", "alias": "last_type"},
            {"function": "count_distinct", "column": "event_type", "alias": "types"},
        ],
    }
    result = apply(events, "aggregate", params)
    expected_columns = "user_id events with_amount total avg_amount min_amount last_type types"
    assert result.columns == expected_columns.split()
    assertDataFrameEqual(
        result,
        [
            ("u1", 3, 3, 13.3, 4.4, 1.25, "purchase", 2),
            ("u2", 2, 1, 3.3, 3.3, 3.333, "view", 1),
            (None, 1, 1, 4.0, 4.0, 4.0, "click", 1),
        ],
    )


def test_collect_map_counts_values_per_group(events: DataFrame) -> None:
    params = {
        "group_by": ["user_id"],
        "aggregations": [
            {"function": "count", "alias": "total_events"},
            {"function": "collect_map", "column": "event_type", "alias": "event_type_counts"},
        ],
    }
    result = apply(events, "aggregate", params)
    assert result.schema["event_type_counts"].dataType.simpleString() == "map<string,bigint>"
    assertDataFrameEqual(
        result,
        [
            ("u1", 3, {"click": 2, "purchase": 1}),
            ("u2", 2, {"view": 1}),
            (None, 1, {"click": 1}),
        ],
    )


def test_collect_map_alone_and_a_group_with_only_null_values(spark: SparkSession) -> None:
    df = spark.createDataFrame([("a", None), ("b", "x"), ("b", "x")], "k string, v string")
    params = {"group_by": ["k"], "aggregations": [{"function": "collect_map", "column": "v"}]}
    result = apply(df, "aggregate", params)
    assert result.columns == ["k", "collect_map_v"]
    assertDataFrameEqual(result, [("a", {}), ("b", {"x": 2})])


def test_collect_map_of_a_non_string_column_has_string_keys(spark: SparkSession) -> None:
    df = spark.createDataFrame([(1,), (1,), (2,)], "n int")
    params = {"aggregations": [{"function": "collect_map", "column": "n", "alias": "counts"}]}
    assertDataFrameEqual(apply(df, "aggregate", params), [({"1": 2, "2": 1},)])


def test_global_aggregate_of_empty_input_is_one_row(spark: SparkSession) -> None:
    empty = spark.createDataFrame([], DDL)
    params = {
        "aggregations": [
            {"function": "count", "alias": "n"},
            {"function": "sum", "column": "amount", "alias": "total"},
            {"function": "collect_map", "column": "event_type", "alias": "types"},
        ]
    }
    assertDataFrameEqual(apply(empty, "aggregate", params), [(0, None, {})])


def test_grouped_aggregate_of_empty_input_is_empty(spark: SparkSession) -> None:
    empty = spark.createDataFrame([], DDL)
    params = {"group_by": ["user_id"], "aggregations": [{"function": "count"}]}
    result = apply(empty, "aggregate", params)
    assert result.columns == ["user_id", "count"]
    assert result.count() == 0


def test_invalid_aggregation_specs_are_reported() -> None:
    from spark_etl.transforms import validate

    cases = [
        ({"function": "sum"}, r"'aggregations.0': Value error, 'sum' needs a 'column'"),
        (
            {"function": "max", "column": "amount", "round": 2},
            r"'round' applies to sum and avg only, not to 'max'",
        ),
        ({"function": "median", "column": "amount"}, r"'aggregations.0.function': Input should"),
    ]
    for spec, pattern in cases:
        with pytest.raises(TransformError, match=pattern):
            validate("aggregate", {"aggregations": [spec]})


def test_duplicate_output_names_are_reported() -> None:
    from spark_etl.transforms import validate

    params = {
        "group_by": ["user_id"],
        "aggregations": [{"function": "count", "alias": "user_id"}],
    }
    with pytest.raises(TransformError, match="output column 'user_id' appears twice"):
        validate("aggregate", params)


def test_streaming_plain_aggregate_is_a_stream(spark: SparkSession) -> None:
    stream = spark.readStream.format("rate").load()
    params = {"aggregations": [{"function": "sum", "column": "value", "alias": "total"}]}
    assert apply(stream, "aggregate", params).isStreaming


@pytest.mark.parametrize("function", ["collect_map", "count_distinct"])
def test_batch_only_functions_refuse_a_stream(spark: SparkSession, function: str) -> None:
    stream = spark.readStream.format("rate").load()
    params = {"aggregations": [{"function": function, "column": "value"}]}
    with pytest.raises(TransformError, match=r"'aggregate'.*stream") as info:
        apply(stream, "aggregate", params)
    assert info.value.transform == "aggregate"
