"""filter, select, derive/map, cast, rename, drop and dedup on small hand-written DataFrames."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.testing import assertDataFrameEqual

from spark_etl.transforms import TransformError, UnknownColumnError, apply
from spark_etl.transforms.basic import DedupParams, FilterParams, filter_rows

from .streaming import run_stream

DDL = "id int, kind string, amount double, ts timestamp"
T0 = datetime(2024, 1, 1, 10, 0)
T1 = datetime(2024, 1, 1, 11, 0)
T2 = datetime(2024, 1, 1, 12, 0)


@pytest.fixture
def rows(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame(
        [
            (1, "click", 2.5, T0),
            (2, "purchase", 10.0, T1),
            (3, None, None, T2),
            (4, "click", -1.0, None),
        ],
        DDL,
    )


@pytest.fixture
def empty(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame([], DDL)


def test_filter_keeps_rows_where_the_condition_is_true_not_null(rows: DataFrame) -> None:
    result = apply(rows, "filter", {"condition": "amount > 0 AND kind = 'click' OR id = 2"})
    assertDataFrameEqual(result, [(1, "click", 2.5, T0), (2, "purchase", 10.0, T1)])


def test_filter_can_be_called_directly_with_its_model(rows: DataFrame) -> None:
    result = filter_rows(rows, FilterParams(condition="kind IS NULL"))
    assertDataFrameEqual(result, [(3, None, None, T2)])


def test_filter_on_empty_input_keeps_the_schema(empty: DataFrame) -> None:
    result = apply(empty, "filter", {"condition": "amount > 0"})
    assert result.schema == empty.schema
    assert result.count() == 0


def test_select_keeps_the_listed_columns_in_order(rows: DataFrame) -> None:
    result = apply(rows, "select", {"columns": ["kind", "id"]})
    assert result.columns == ["kind", "id"]
    assertDataFrameEqual(
        result, [("click", 1), ("purchase", 2), (None, 3), ("click", 4)], checkRowOrder=False
    )


def test_derive_adds_and_replaces_columns_from_expressions(rows: DataFrame) -> None:
    params = {"columns": {"amount": "coalesce(amount, 0) * 2", "is_click": "kind = 'click'"}}
    result = apply(rows, "derive", params).select("id", "amount", "is_click")
    assertDataFrameEqual(
        result,
        [(1, 5.0, True), (2, 20.0, False), (3, 0.0, None), (4, -2.0, True)],
        checkRowOrder=False,
    )
    assert apply(rows, "derive", params).columns == ["id", "kind", "amount", "ts", "is_click"]


def test_map_is_derive(rows: DataFrame) -> None:
    result = apply(rows, "map", {"columns": {"day": "to_date(ts)"}}).select("id", "day")
    assertDataFrameEqual(
        result,
        [(1, T0.date()), (2, T1.date()), (3, T2.date()), (4, None)],
        checkRowOrder=False,
    )


def test_cast_changes_types_in_place_and_keeps_nulls(rows: DataFrame) -> None:
    result = apply(rows, "cast", {"columns": {"amount": "decimal(10,2)", "id": "string"}})
    assert result.columns == ["id", "kind", "amount", "ts"]
    assert result.schema["amount"].dataType.simpleString() == "decimal(10,2)"
    assertDataFrameEqual(
        result.select("id", "amount"),
        [("1", Decimal("2.50")), ("2", Decimal("10.00")), ("3", None), ("4", Decimal("-1.00"))],
        checkRowOrder=False,
    )


def test_rename_renames_in_place(rows: DataFrame) -> None:
    result = apply(rows, "rename", {"columns": {"kind": "event_type", "ts": "timestamp"}})
    assert result.columns == ["id", "event_type", "amount", "timestamp"]


def test_rename_and_drop_handle_dotted_column_names(spark: SparkSession) -> None:
    df = spark.createDataFrame([(1, 2)], "`a.b` int, c int")
    assert apply(df, "rename", {"columns": {"a.b": "a_b"}}).columns == ["a_b", "c"]
    assert apply(df, "drop", {"columns": ["a.b"]}).columns == ["c"]
    with pytest.raises(UnknownColumnError, match=r"column '`a.c`'"):
        apply(df, "drop", {"columns": ["a.c"]})


def test_drop_removes_columns(rows: DataFrame) -> None:
    assert apply(rows, "drop", {"columns": ["amount", "ts"]}).columns == ["id", "kind"]


def test_drop_of_a_missing_column_is_an_error_not_a_no_op(rows: DataFrame) -> None:
    with pytest.raises(UnknownColumnError, match="Did you mean 'amount'"):
        apply(rows, "drop", {"columns": ["amounts"]})


@pytest.fixture
def dupes(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame(
        [
            ("a", 1, "x"),
            ("a", 3, "y"),
            ("a", None, "z"),
            ("b", 2, "q"),
            ("b", 2, "p"),
            (None, 5, "n1"),
            (None, 6, "n2"),
        ],
        "key string, version int, payload string",
    )


def test_dedup_keeps_the_latest_row_per_key(dupes: DataFrame) -> None:
    params = {"keys": ["key"], "order_by": "version", "descending": True}
    result = apply(dupes, "dedup", params)
    assertDataFrameEqual(result, [("a", 3, "y"), ("b", 2, "p"), (None, 6, "n2")])


def test_dedup_ascending_puts_null_order_values_last(dupes: DataFrame) -> None:
    result = apply(dupes, "dedup", {"keys": ["key"], "order_by": "version"})
    assertDataFrameEqual(result, [("a", 1, "x"), ("b", 2, "p"), (None, 5, "n1")])


def test_dedup_without_order_by_is_deterministic(dupes: DataFrame) -> None:
    result = apply(dupes, "dedup", {"keys": ["key"]})
    assertDataFrameEqual(result, [("a", 1, "x"), ("b", 2, "p"), (None, 5, "n1")])


def test_dedup_skips_unorderable_columns_as_tie_breakers(spark: SparkSession) -> None:
    df = spark.createDataFrame(
        [("a", {"k": 1}, 2), ("a", {"k": 0}, 1)], "key string, m map<string,int>, n int"
    )
    result = apply(df, "dedup", {"keys": ["key"]})
    assertDataFrameEqual(result, [("a", {"k": 0}, 1)])


def test_dedup_on_empty_input(empty: DataFrame) -> None:
    result = apply(empty, "dedup", {"keys": ["id"], "order_by": "ts"})
    assert result.columns == empty.columns
    assert result.count() == 0


def test_dedup_watermark_delay_needs_its_column() -> None:
    with pytest.raises(ValueError, match="watermark_delay needs watermark_column"):
        DedupParams(keys=["id"], watermark_delay="1 hour")


def test_dedup_unknown_order_column(dupes: DataFrame) -> None:
    with pytest.raises(UnknownColumnError, match=r"parameter 'order_by'.*'version'"):
        apply(dupes, "dedup", {"keys": ["key"], "order_by": "versoin"})


@pytest.mark.streaming
def test_dedup_on_a_stream_drops_repeats_within_the_watermark(
    spark: SparkSession, tmp_path: Path
) -> None:
    params = {"keys": ["id"], "watermark_column": "ts", "watermark_delay": "10 minutes"}
    batches = [
        [
            {"id": 1, "ts": "2024-01-01T10:00:00", "v": "first"},
            {"id": 1, "ts": "2024-01-01T10:01:00", "v": "same batch"},
            {"id": 2, "ts": "2024-01-01T10:02:00", "v": "first"},
        ],
        [{"id": 2, "ts": "2024-01-01T10:05:00", "v": "next batch"}],
        [{"id": 3, "ts": "2024-01-01T10:06:00", "v": "first"}],
    ]
    schema = "id int, ts timestamp, v string"
    result = run_stream(spark, tmp_path, schema, batches, lambda df: apply(df, "dedup", params))
    assert sorted((r.id, r.v) for r in result.collect()) == [
        (1, "first"),
        (2, "first"),
        (3, "first"),
    ]


@pytest.mark.streaming
def test_dedup_on_a_stream_without_watermark_uses_drop_duplicates(
    spark: SparkSession, tmp_path: Path
) -> None:
    batches = [[{"id": 1, "v": "a"}, {"id": 2, "v": "b"}], [{"id": 1, "v": "c"}]]
    params = {"keys": ["id"]}
    result = run_stream(
        spark, tmp_path, "id int, v string", batches, lambda df: apply(df, "dedup", params)
    )
    assert sorted(r.id for r in result.collect()) == [1, 2]


def test_filter_on_a_stream_stays_a_stream(spark: SparkSession) -> None:
    stream = spark.readStream.format("rate").load()
    result = apply(stream, "filter", {"condition": "value % 2 = 0"})
    assert result.isStreaming


def test_bad_expression_is_reported_with_the_transform(rows: DataFrame) -> None:
    with pytest.raises(TransformError, match=r"Transform 'derive': Spark rejected"):
        apply(rows, "derive", {"columns": {"x": "amount +* 2"}})
