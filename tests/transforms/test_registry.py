"""The registry: look-up, parameter validation, column checks and the errors they raise."""

from __future__ import annotations

import pytest
from pydantic import BaseModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.testing import assertDataFrameEqual

from spark_etl.exceptions import ConfigError, TerminalError
from spark_etl.transforms import (
    TransformError,
    TransformParams,
    UnknownColumnError,
    UnknownTransformError,
    apply,
    get,
    names,
    register,
    registry,
    validate,
)
from spark_etl.transforms.basic import FilterParams

BUILT_IN = [
    "aggregate",
    "cast",
    "dedup",
    "derive",
    "drop",
    "filter",
    "join",
    "map",
    "rename",
    "select",
    "time_window",
    "window_function",
]


@pytest.fixture
def events(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame(
        [(1, "click", 2.5, {"k": "v"}), (2, "view", None, None)],
        "user_id int, event_type string, amount double, props map<string,string>",
    )


def test_every_built_in_is_registered_once() -> None:
    assert names() == BUILT_IN
    assert get("filter").params is FilterParams
    assert get("map").fn is get("derive").fn
    assert get("join").inputs == ("right",)
    assert get("dedup").summary.startswith("Keep one row per key")


def test_errors_are_terminal_config_errors() -> None:
    assert issubclass(TransformError, ConfigError)
    assert issubclass(UnknownColumnError, TransformError)
    assert issubclass(UnknownTransformError, TerminalError)


def test_unknown_transform_lists_registered_names_and_closest() -> None:
    with pytest.raises(UnknownTransformError) as info:
        get("filtr")
    message = str(info.value)
    assert "Unknown transform 'filtr'" in message
    assert ", ".join(BUILT_IN) in message
    assert "Did you mean 'filter'?" in message
    assert info.value.closest == "filter"


def test_unknown_transform_without_close_match_gives_no_hint(events: DataFrame) -> None:
    with pytest.raises(UnknownTransformError) as info:
        apply(events, "zzzz", {})
    assert "Did you mean" not in str(info.value)
    assert info.value.closest is None


def test_extra_param_is_reported_with_allowed_names_and_closest() -> None:
    with pytest.raises(TransformError) as info:
        validate("filter", {"conditon": "amount > 0"})
    message = str(info.value)
    assert "Transform 'filter'" in message
    assert "'conditon': unknown parameter; allowed here: condition. Did you mean 'condition'?" in (
        message
    )
    assert "'condition': Field required" in message
    assert info.value.transform == "filter"


def test_nested_extra_param_names_the_field_path() -> None:
    params = {"aggregations": [{"functon": "sum", "column": "amount"}]}
    with pytest.raises(TransformError) as info:
        validate("aggregate", params)
    message = str(info.value)
    assert "'aggregations.0.functon': unknown parameter" in message
    assert "allowed here: alias, column, function, round" in message
    assert "Did you mean 'function'?" in message


def test_wrong_param_type_names_the_field_and_value() -> None:
    with pytest.raises(TransformError) as info:
        validate("dedup", {"keys": "user_id", "descending": "maybe"})
    message = str(info.value)
    assert "Transform 'dedup'" in message
    assert "'keys': Input should be a valid list (got 'user_id')" in message
    assert "'descending': Input should be a valid boolean" in message


def test_wrong_literal_and_bad_duration_are_reported() -> None:
    with pytest.raises(TransformError, match=r"'how': Input should be 'inner', 'left'"):
        validate("join", {"how": "outer", "on": ["id"]})
    with pytest.raises(TransformError, match=r"'window_duration': Value error, not a duration"):
        validate("time_window", {"time_column": "ts", "window_duration": "10 mins"})


def test_params_must_be_a_mapping() -> None:
    with pytest.raises(TransformError, match="parameters must be a mapping"):
        validate("select", ["user_id"])  # type: ignore[arg-type]


def test_validate_returns_the_model_with_defaults() -> None:
    params = validate("dedup", {"keys": ["user_id"]})
    assert params.model_dump() == {
        "keys": ["user_id"],
        "order_by": None,
        "descending": False,
        "watermark_column": None,
        "watermark_delay": None,
    }


def test_unknown_column_lists_columns_parameter_and_closest(events: DataFrame) -> None:
    with pytest.raises(UnknownColumnError) as info:
        apply(events, "select", {"columns": ["user_id", "event_typ"]})
    error = info.value
    assert str(error) == (
        "Transform 'select' (parameter 'columns.1'): column 'event_typ' is not in the input "
        "DataFrame, whose columns are: user_id, event_type, amount, props. "
        "Did you mean 'event_type'? Fix the column name in the node's parameters or add the "
        "column upstream."
    )
    assert (error.column, error.closest) == ("event_typ", "event_type")
    assert error.available == ["user_id", "event_type", "amount", "props"]


def test_unknown_column_in_a_mapping_key_and_a_nested_spec(events: DataFrame) -> None:
    with pytest.raises(UnknownColumnError, match=r"parameter 'columns.amout'.*'amount'"):
        apply(events, "cast", {"columns": {"amout": "float"}})
    aggregations = [{"function": "sum", "column": "amont", "alias": "total"}]
    with pytest.raises(UnknownColumnError, match=r"parameter 'aggregations.0.column'"):
        apply(events, "aggregate", {"group_by": ["user_id"], "aggregations": aggregations})


def test_nested_columns_check_their_top_level_part(events: DataFrame) -> None:
    result = apply(events, "select", {"columns": ["user_id", "props.k"]})
    assert result.columns == ["user_id", "k"]
    with pytest.raises(UnknownColumnError) as info:
        apply(events, "select", {"columns": ["prop.k"]})
    assert "column 'prop.k' (top-level column 'prop')" in str(info.value)
    assert info.value.closest == "props"


def test_column_check_is_case_insensitive_like_spark(events: DataFrame) -> None:
    result = apply(events, "select", {"columns": ["USER_ID"]})
    assertDataFrameEqual(result, [(1,), (2,)], checkRowOrder=False)


def test_params_are_checked_before_any_spark_job(events: DataFrame) -> None:
    tracker = events.sparkSession.sparkContext.statusTracker()
    events.sparkSession.sparkContext.setJobGroup("transforms-no-job", "must stay empty")
    with pytest.raises(UnknownColumnError):
        apply(events, "dedup", {"keys": ["user"], "order_by": "amount"})
    with pytest.raises(TransformError):
        apply(events, "filter", {"condition": "amount > 0", "limit": 3})
    assert tracker.getJobIdsForGroup("transforms-no-job") == []


def test_spark_analysis_errors_become_transform_errors(events: DataFrame) -> None:
    with pytest.raises(TransformError, match=r"Transform 'filter': Spark rejected") as info:
        apply(events, "filter", {"condition": "no_such_column > 0"})
    assert "no_such_column" in str(info.value)
    with pytest.raises(TransformError, match=r"Transform 'cast': Spark rejected"):
        apply(events, "cast", {"columns": {"amount": "not_a_type"}})


def test_missing_and_unexpected_inputs_are_reported(events: DataFrame) -> None:
    with pytest.raises(TransformError, match=r"'join' takes these extra inputs: right; missing: "):
        apply(events, "join", {"on": ["user_id"]})
    with pytest.raises(TransformError, match=r"unexpected: right"):
        apply(events, "filter", {"condition": "true"}, right=events)


def test_register_refuses_a_taken_name_and_a_lax_model() -> None:
    class Lax(BaseModel):
        pass

    with pytest.raises(TransformError, match="registered twice"):
        register("filter", FilterParams)
    with pytest.raises(TransformError, match=r"extra='forbid'"):
        register("lax", Lax)  # type: ignore[arg-type]
    assert "lax" not in names()


def test_a_new_transform_is_one_function_and_one_registration(
    events: DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    class UpperParams(TransformParams):
        column: str

        def columns_used(self) -> set[str]:
            return {self.column}

    @register("upper", UpperParams)
    def upper(df: DataFrame, params: UpperParams, **inputs: DataFrame) -> DataFrame:
        return df.selectExpr(f"upper({params.column}) AS {params.column}")

    assert "upper" in names()
    result = apply(events, "upper", {"column": "event_type"})
    assertDataFrameEqual(result, [("CLICK",), ("VIEW",)], checkRowOrder=False)
    with pytest.raises(UnknownColumnError, match="Did you mean 'event_type'"):
        apply(events, "upper", {"column": "event"})


def test_yaml_boolean_key_gets_a_hint() -> None:
    from spark_etl.transforms import TransformError, validate

    with pytest.raises(TransformError, match=r"read as the boolean True: YAML 1\.1 .* Quote"):
        validate("join", {True: ["user_id"], "how": "left"})
