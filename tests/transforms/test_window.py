"""time_window (batch, sliding, and a real stream with a watermark) and window_function."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.testing import assertDataFrameEqual

from spark_etl.transforms import TransformError, UnknownColumnError, apply, validate

from .streaming import run_stream

DDL = "user_id string, ts timestamp, amount double"


def at(minute: int, hour: int = 10) -> datetime:
    return datetime(2024, 1, 1, hour, minute)


@pytest.fixture
def events(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame(
        [
            ("u1", at(1), 1.0),
            ("u1", at(9), 2.0),
            ("u2", at(5), None),
            ("u1", at(12), 4.0),
            ("u2", None, 8.0),
        ],
        DDL,
    )


def test_tumbling_window_per_group(events: DataFrame) -> None:
    params = {
        "time_column": "ts",
        "window_duration": "10 minutes",
        "group_by": ["user_id"],
        "aggregations": [
            {"function": "count", "alias": "n"},
            {"function": "sum", "column": "amount", "alias": "total"},
        ],
    }
    result = apply(events, "time_window", params)
    assert result.columns == ["window_start", "window_end", "user_id", "n", "total"]
    assertDataFrameEqual(
        result,
        [
            (at(0), at(10), "u1", 2, 3.0),
            (at(0), at(10), "u2", 1, None),
            (at(10), at(20), "u1", 1, 4.0),
        ],
    )


def test_sliding_window_counts_a_row_in_every_window_it_falls_in(events: DataFrame) -> None:
    params = {
        "time_column": "ts",
        "window_duration": "10 minutes",
        "slide_duration": "5 minutes",
        "aggregations": [{"function": "max", "column": "amount"}],
    }
    assertDataFrameEqual(
        apply(events, "time_window", params),
        [
            (at(55, 9), at(5), 1.0),
            (at(0), at(10), 2.0),
            (at(5), at(15), 4.0),
            (at(10), at(20), 4.0),
        ],
    )


def test_time_window_of_empty_input(spark: SparkSession) -> None:
    empty = spark.createDataFrame([], DDL)
    params = {
        "time_column": "ts",
        "window_duration": "1 hour",
        "watermark": "5 minutes",
        "aggregations": [{"function": "count"}],
    }
    result = apply(empty, "time_window", params)
    assert result.columns == ["window_start", "window_end", "count"]
    assert result.count() == 0


@pytest.mark.streaming
def test_streaming_window_with_watermark_drops_late_rows(
    spark: SparkSession, tmp_path: Path
) -> None:
    params = {
        "time_column": "ts",
        "window_duration": "10 minutes",
        "watermark": "5 minutes",
        "aggregations": [
            {"function": "count", "alias": "n"},
            {"function": "sum", "column": "amount", "alias": "total"},
        ],
    }

    def row(minute: int, amount: float) -> dict[str, object]:
        return {"user_id": "u1", "ts": f"2024-01-01T10:{minute:02d}:00", "amount": amount}

    batches = [
        [row(1, 1.0), row(4, 2.0), row(21, 4.0)],  # max event time 10:21: watermark 10:16
        [row(22, 8.0)],  # the watermark now closes [10:00, 10:10), which is emitted
        [row(3, 100.0), row(12, 200.0), row(40, 16.0)],  # 10:03 is too late; 10:12 is not
    ]
    result = run_stream(spark, tmp_path, DDL, batches, lambda df: apply(df, "time_window", params))
    # Had the late 10:03 row been kept, [10:00, 10:10) would appear a second time.
    assertDataFrameEqual(
        result,
        [
            (at(0), at(10), 2, 3.0),
            (at(10), at(20), 1, 200.0),
            (at(20), at(30), 2, 12.0),
        ],
    )


def test_streaming_time_window_is_a_stream(spark: SparkSession) -> None:
    stream = spark.readStream.format("rate").load()
    params = {
        "time_column": "timestamp",
        "window_duration": "1 minute",
        "watermark": "10 seconds",
        "aggregations": [{"function": "sum", "column": "value"}],
    }
    assert apply(stream, "time_window", params).isStreaming


def test_time_window_refuses_collect_map_and_bad_durations() -> None:
    base = {"time_column": "ts", "window_duration": "10 minutes"}
    collect = [{"function": "collect_map", "column": "user_id"}]
    with pytest.raises(TransformError, match="'collect_map' is not available in time_window"):
        validate("time_window", {**base, "aggregations": collect})
    count = [{"function": "count"}]
    with pytest.raises(TransformError, match=r"'watermark': Value error, not a duration"):
        validate("time_window", {**base, "watermark": "5", "aggregations": count})
    slide = {**base, "slide_duration": "20 minutes", "aggregations": count}
    with pytest.raises(TransformError, match="'slide_duration' must be longer than zero and at"):
        validate("time_window", slide)
    with pytest.raises(TransformError, match="output column 'window_start' appears twice"):
        clash = [{"function": "count", "alias": "window_start"}]
        validate("time_window", {**base, "aggregations": clash})


def test_time_window_unknown_time_column(events: DataFrame) -> None:
    params = {
        "time_column": "time",
        "window_duration": "1 hour",
        "aggregations": [{"function": "count"}],
    }
    with pytest.raises(UnknownColumnError, match=r"parameter 'time_column'"):
        apply(events, "time_window", params)


@pytest.fixture
def scores(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame(
        [
            ("a", 1, 10),
            ("a", 2, 30),
            ("a", 3, 30),
            ("a", 4, None),
            ("b", 1, 5),
        ],
        "team string, day int, points int",
    )


def test_row_number_lag_lead_and_running_sum(scores: DataFrame) -> None:
    params = {
        "partition_by": ["team"],
        "order_by": [{"column": "points", "descending": True}, "day"],
        "functions": [
            {"function": "row_number", "alias": "rn"},
            {"function": "lag", "column": "day", "alias": "prev_day"},
            {"function": "lead", "column": "day", "offset": 2, "alias": "day_after_next"},
            {"function": "running_sum", "column": "points"},
        ],
    }
    result = apply(scores, "window_function", params)
    expected_columns = "team day points rn prev_day day_after_next running_sum_points"
    assert result.columns == expected_columns.split()
    assertDataFrameEqual(
        result,
        [
            ("a", 2, 30, 1, None, 1, 30),
            ("a", 3, 30, 2, 2, 4, 60),
            ("a", 1, 10, 3, 3, None, 70),
            ("a", 4, None, 4, 1, None, 70),
            ("b", 1, 5, 1, None, None, 5),
        ],
        checkRowOrder=False,
    )


def test_rank_and_dense_rank_share_ranks_on_ties(scores: DataFrame) -> None:
    params = {
        "partition_by": ["team"],
        "order_by": [{"column": "points", "descending": True}],
        "functions": [{"function": "rank"}, {"function": "dense_rank", "alias": "dense"}],
    }
    result = apply(scores, "window_function", params)
    assertDataFrameEqual(
        result,
        [
            ("a", 2, 30, 1, 1),
            ("a", 3, 30, 1, 1),
            ("a", 1, 10, 3, 2),
            ("a", 4, None, 4, 3),
            ("b", 1, 5, 1, 1),
        ],
        checkRowOrder=False,
    )


def test_window_function_without_partition_and_on_empty_input(spark: SparkSession) -> None:
    df = spark.createDataFrame([(3,), (1,), (2,)], "n int")
    params = {"order_by": ["n"], "functions": [{"function": "running_sum", "column": "n"}]}
    assertDataFrameEqual(apply(df, "window_function", params), [(1, 1), (2, 3), (3, 6)])
    empty = spark.createDataFrame([], "n int")
    assert apply(empty, "window_function", params).count() == 0


def test_window_function_refuses_a_stream(spark: SparkSession) -> None:
    stream = spark.readStream.format("rate").load()
    params = {"order_by": ["value"], "functions": [{"function": "row_number"}]}
    with pytest.raises(TransformError) as info:
        apply(stream, "window_function", params)
    message = str(info.value)
    assert "Transform 'window_function' works on batch DataFrames only" in message
    assert "use 'time_window'" in message


def test_invalid_window_function_specs_are_reported() -> None:
    cases = [
        ({"function": "rank", "column": "day"}, "'rank' takes no 'column'"),
        ({"function": "lag"}, "'lag' needs a 'column'"),
        ({"function": "running_sum", "column": "day", "offset": 1}, "'offset' applies to lag"),
        ({"function": "lag", "column": "day", "offset": 0}, r"'functions.0.offset'"),
    ]
    for spec, pattern in cases:
        with pytest.raises(TransformError, match=pattern):
            validate("window_function", {"order_by": ["day"], "functions": [spec]})
    with pytest.raises(TransformError, match=r"'order_by': List should have at least 1 item"):
        validate("window_function", {"order_by": [], "functions": [{"function": "rank"}]})


def test_window_function_unknown_order_column(scores: DataFrame) -> None:
    params = {"order_by": [{"column": "pionts"}], "functions": [{"function": "rank"}]}
    with pytest.raises(UnknownColumnError, match=r"parameter 'order_by.0.column'.*'points'"):
        apply(scores, "window_function", params)
