"""join: every join type on keys (null keys never match), conditions, broadcast, errors."""

from __future__ import annotations

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.testing import assertDataFrameEqual

from spark_etl.transforms import TransformError, UnknownColumnError, apply, validate
from spark_etl.transforms.join import JoinParams, join


@pytest.fixture
def users(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame(
        [(1, "ann"), (2, "bob"), (None, "nobody")], "user_id int, name string"
    )


@pytest.fixture
def orders(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame(
        [(1, 10.0), (1, 5.0), (3, 7.0), (None, 1.0)], "user_id int, amount double"
    )


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ("inner", [(1, "ann", 10.0), (1, "ann", 5.0)]),
        ("left", [(1, "ann", 10.0), (1, "ann", 5.0), (2, "bob", None), (None, "nobody", None)]),
        ("right", [(1, "ann", 10.0), (1, "ann", 5.0), (3, None, 7.0), (None, None, 1.0)]),
        (
            "full",
            [
                (1, "ann", 10.0),
                (1, "ann", 5.0),
                (2, "bob", None),
                (None, "nobody", None),
                (3, None, 7.0),
                (None, None, 1.0),
            ],
        ),
    ],
)
def test_key_joins(
    users: DataFrame, orders: DataFrame, how: str, expected: list[tuple[object, ...]]
) -> None:
    result = apply(users, "join", {"how": how, "on": ["user_id"]}, right=orders)
    assert result.columns == ["user_id", "name", "amount"]
    assertDataFrameEqual(result, expected, checkRowOrder=False)


def test_semi_and_anti_keep_left_columns_only(users: DataFrame, orders: DataFrame) -> None:
    semi = apply(users, "join", {"how": "semi", "on": ["user_id"]}, right=orders)
    anti = apply(users, "join", {"how": "anti", "on": ["user_id"]}, right=orders)
    assertDataFrameEqual(semi, [(1, "ann")])
    assertDataFrameEqual(anti, [(2, "bob"), (None, "nobody")], checkRowOrder=False)


def test_condition_join_uses_left_and_right_aliases(spark: SparkSession, users: DataFrame) -> None:
    limits = spark.createDataFrame([(1, 6.0), (2, 100.0)], "id int, max_amount double")
    orders = spark.createDataFrame([(1, 10.0), (1, 5.0), (2, 50.0)], "uid int, amount double")
    params = {"condition": "left.uid = right.id AND left.amount <= right.max_amount"}
    result = apply(orders, "join", params, right=limits)
    assert result.columns == ["uid", "amount", "id", "max_amount"]
    assertDataFrameEqual(result, [(1, 5.0, 1, 6.0), (2, 50.0, 2, 100.0)], checkRowOrder=False)


def test_broadcast_marks_the_right_side(users: DataFrame, orders: DataFrame) -> None:
    params = {"on": ["user_id"], "broadcast": True}
    result = apply(users, "join", params, right=orders)
    plan = result._jdf.queryExecution().optimizedPlan().toString()
    assert "broadcast" in plan.lower()
    assertDataFrameEqual(result, [(1, "ann", 10.0), (1, "ann", 5.0)], checkRowOrder=False)


def test_join_with_empty_right_side(spark: SparkSession, users: DataFrame) -> None:
    empty = spark.createDataFrame([], "user_id int, amount double")
    result = apply(users, "join", {"how": "left", "on": ["user_id"]}, right=empty)
    assertDataFrameEqual(
        result, [(1, "ann", None), (2, "bob", None), (None, "nobody", None)], checkRowOrder=False
    )


def test_stream_static_join_is_a_stream(spark: SparkSession) -> None:
    stream = spark.readStream.format("rate").load()
    lookup = spark.createDataFrame([(0, "zero")], "value long, label string")
    result = apply(stream, "join", {"how": "left", "on": ["value"]}, right=lookup)
    assert result.isStreaming


def test_missing_key_on_the_left_is_reported(users: DataFrame, orders: DataFrame) -> None:
    with pytest.raises(UnknownColumnError) as info:
        apply(users, "join", {"on": ["userid"]}, right=orders)
    assert "parameter 'on.0'" in str(info.value)
    assert "not in the input DataFrame" in str(info.value)
    assert info.value.closest == "user_id"


def test_missing_key_on_the_right_is_reported(spark: SparkSession, users: DataFrame) -> None:
    right = spark.createDataFrame([(1, 2.0)], "uid int, amount double")
    with pytest.raises(UnknownColumnError) as info:
        apply(users, "join", {"on": ["user_id"]}, right=right)
    assert "not in the right DataFrame, whose columns are: uid, amount" in str(info.value)
    assert info.value.closest == "uid"


def test_on_and_condition_are_exclusive() -> None:
    for params in ({}, {"on": ["a"], "condition": "left.a = right.a"}):
        with pytest.raises(TransformError, match="give exactly one of 'on'"):
            validate("join", params)


def test_direct_call_without_right_is_reported(users: DataFrame) -> None:
    with pytest.raises(TransformError, match="needs its second input as the keyword 'right'"):
        join(users, JoinParams(on=["user_id"]))


def test_bad_condition_is_reported(users: DataFrame, orders: DataFrame) -> None:
    params = {"condition": "left.user_id = right.nope"}
    with pytest.raises(TransformError, match=r"Transform 'join': Spark rejected"):
        apply(users, "join", params, right=orders)
