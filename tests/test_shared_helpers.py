"""The framework's private helpers that every layer shares: durations, did-you-mean, secret names,
network failures."""

from __future__ import annotations

from datetime import timedelta

import pytest

from spark_etl._durations import duration, spark_interval
from spark_etl._jvm import UNREACHABLE
from spark_etl._secrets import MASK, is_secret_name, masked
from spark_etl._suggest import closest, did_you_mean


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("10 minutes", timedelta(minutes=10)),
        ("1 hour 30 minutes", timedelta(hours=1, minutes=30)),
        ("interval 5 seconds", timedelta(seconds=5)),
        ("500 milliseconds", timedelta(milliseconds=500)),
        ("2 weeks", timedelta(weeks=2)),
        ("1 Day", timedelta(days=1)),
    ],
)
def test_spark_s_interval_text(text: str, length: timedelta) -> None:
    assert spark_interval(text) == length
    assert duration(text) == length  # the quality rules take Spark's spelling too


@pytest.mark.parametrize("text", ["1 month", "soon", "", "10", "1.5 seconds"])
def test_what_spark_cannot_take_says_how_to_write_one(text: str) -> None:
    with pytest.raises(ValueError, match=r"not a duration Spark understands; write a number"):
        spark_interval(text)


def test_the_short_form_of_the_quality_rules() -> None:
    assert [duration(t) for t in ("30s", "30m", "24h", "7d")] == [
        timedelta(seconds=30),
        timedelta(minutes=30),
        timedelta(hours=24),
        timedelta(days=7),
    ]
    with pytest.raises(ValueError, match=r"write a number and s, m, h or d \('30m', '7d'\)"):
        duration("7y")


def test_did_you_mean_is_case_insensitive_and_keeps_the_spelling() -> None:
    assert closest("EVENT_TYP", ["event_type", "user_id"]) == "event_type"
    assert did_you_mean("usr_id", ["event_type", "user_id"]) == " Did you mean 'user_id'?"
    assert did_you_mean("zzz", ["event_type"]) == ""


@pytest.mark.parametrize(
    "name",
    [
        "password",
        "SPARK_ETL_PG_PASSWORD",
        "secret_key",
        "access_key",
        "SPARK_ETL_S3_ACCESS_KEY",
        "api_key",
        "api.key",
        "token",
        "kafka.ssl.key.password",
        "passphrase",
        "credentials",
        "kafka_key",
    ],
)
def test_secret_names(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name",
    ["user", "endpoint", "key_columns", "keystore.location", "monkey", "SPARK_ETL_VAULT_KEY_FILE"],
)
def test_names_that_hold_no_secret(name: str) -> None:
    assert not is_secret_name(name)


def test_one_rule_masks_describe_logs_and_samples() -> None:
    from spark_etl.contracts.validation import _safe_record
    from spark_etl.datasets.base import redact
    from spark_etl.runtime.logs import _redact_value

    values = {"user": "etl", "password": "hunter22", "key_columns": ["id"]}
    expected = {"user": "etl", "password": MASK, "key_columns": ["id"]}
    assert redact(values) == masked(values) == expected
    assert _redact_value(values) == expected
    sample = _safe_record(values)  # a sample record: values shown as text
    assert (sample["user"], sample["password"]) == ("etl", MASK)


def test_every_system_s_unreachable_words_include_the_common_ones() -> None:
    from spark_etl.datasets import _s3_location, jdbc, kafka
    from spark_etl.runtime.classify import TRANSIENT_JAVA

    systems = (jdbc._UNREACHABLE, kafka._UNREACHABLE, _s3_location._CONNECT_ERRORS, TRANSIENT_JAVA)
    for names in systems:
        assert set(UNREACHABLE) <= set(names)
