"""The circuit breaker's states on a fake clock: open after N failures in a window, fail fast,
one half-open probe, streams that wait and probe; and the systems datasets name. The real
servers stopped and started are in tests/pipelines/test_circuit_breaker.py."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from spark_etl.datasets import JDBCDataset, KafkaDataset, S3Dataset
from spark_etl.exceptions import ConfigError, SourceUnavailableError
from spark_etl.runtime.breaker import (
    CircuitBreaker,
    CircuitOpenError,
    StoppedWhilePausedError,
    parse_breaker_settings,
)
from spark_etl.runtime.classify import classify
from spark_etl.runtime.failure import ExitCode, explain

DOWN = SourceUnavailableError("postgresql at db:5432 is not reachable to write")
PG = "postgresql://db:5432"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class Server:
    """A write that fails while the server is down, counting its calls."""

    def __init__(self, down_for: int = 0, error: Exception = DOWN) -> None:
        self.down_for, self.error, self.calls = down_for, error, 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.down_for:
            raise self.error
        return "written"


def breaker(clock: Clock, stopping: Any = lambda: False, **settings: Any) -> CircuitBreaker:
    raw = {"failures": 3, "window": "1m", "cooldown": "30s", "stream_retry": "5s", **settings}
    return CircuitBreaker(
        parse_breaker_settings(raw), stopping=stopping, clock=clock, sleep=clock.sleep
    )


def states(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.state for r in caplog.records if getattr(r, "event", None) == "circuit_breaker"]


def test_failures_in_a_row_open_the_circuit_then_writes_fail_fast(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock, server = Clock(), Server(down_for=100)
    guard = breaker(clock)
    with caplog.at_level(logging.INFO):
        for _ in range(3):
            with pytest.raises(SourceUnavailableError, match="is not reachable"):
                guard.guard(PG, "public.orders", server)
            clock.now += 5
        with pytest.raises(CircuitOpenError) as refused:
            guard.guard(PG, "public.orders", server)
    assert server.calls == 3  # the fourth write never reached the server
    assert guard.state(PG) == "open"
    assert str(refused.value) == (
        "Writes to postgresql://db:5432 are paused by the circuit breaker: 3 writes in a row "
        "failed within 1 min (circuit_breaker in runtime.yml), so the write to public.orders was "
        "not tried. The next write probes the server in 25 s. The last failure: postgresql at "
        "db:5432 is not reachable to write"
    )
    assert classify(refused.value) == "transient"  # the retry policy may try again later
    assert explain(refused.value).code == ExitCode.UNREACHABLE
    assert states(caplog) == ["open"]
    (opened,) = [r for r in caplog.records if getattr(r, "event", None) == "circuit_breaker"]
    assert opened.getMessage() == (
        "Circuit of postgresql://db:5432 (writing public.orders) open: 3 writes in a row failed "
        "within 1 min; writes wait 30 s"
    )
    assert (opened.levelname, opened.failures, opened.cooldown_s) == ("WARNING", 3, 30.0)


def test_after_the_cooldown_one_probe_closes_or_reopens(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    guard = breaker(clock, failures=1)
    with caplog.at_level(logging.INFO):
        with pytest.raises(SourceUnavailableError):
            guard.guard(PG, "t", Server(down_for=1))
        clock.now += 30
        with pytest.raises(SourceUnavailableError):  # the probe reaches the server, and fails
            guard.guard(PG, "t", Server(down_for=1))
        clock.now += 29
        with pytest.raises(CircuitOpenError):  # open again, for a whole new cooldown
            guard.guard(PG, "t", Server())
        clock.now += 1
        assert guard.guard(PG, "t", Server()) == "written"
    assert guard.state(PG) == "closed"
    assert states(caplog) == ["open", "half_open", "open", "half_open", "closed"]


def test_only_failures_in_a_row_within_the_window_count() -> None:
    clock = Clock()
    guard = breaker(clock)
    for _ in range(2):
        with pytest.raises(SourceUnavailableError):
            guard.guard(PG, "t", Server(down_for=1))
    guard.guard(PG, "t", Server())  # a success: the count starts again
    for _ in range(2):
        with pytest.raises(SourceUnavailableError):
            guard.guard(PG, "t", Server(down_for=1))
        clock.now += 40  # the window is a minute: the first of these drops out
    with pytest.raises(SourceUnavailableError):
        guard.guard(PG, "t", Server(down_for=1))
    assert guard.state(PG) == "closed"


def test_a_refused_write_says_nothing_of_the_server() -> None:
    clock = Clock()
    guard = breaker(clock, failures=1)
    rejected = ConfigError("the table has no column 'colour'")
    for _ in range(3):
        with pytest.raises(ConfigError):
            guard.guard(PG, "t", Server(down_for=1, error=rejected))
    assert guard.state(PG) == "closed"


def test_systems_have_circuits_of_their_own() -> None:
    clock = Clock()
    guard = breaker(clock, failures=1)
    with pytest.raises(SourceUnavailableError):
        guard.guard(PG, "t", Server(down_for=1))
    assert guard.guard("mysql://other:3306", "t", Server()) == "written"
    assert (guard.state(PG), guard.state("mysql://other:3306")) == ("open", "closed")


def test_a_stream_retries_in_place_then_waits_and_probes(caplog: pytest.LogCaptureFixture) -> None:
    clock, server = Clock(), Server(down_for=5)
    guard = breaker(clock)
    with caplog.at_level(logging.INFO):
        assert guard.guard(PG, "t", server, streaming=True) == "written"
    # two failures retried after 5 s each; the third opens the circuit: 30 s, a failed probe,
    # 30 s more, a failed probe, 30 s, the probe that succeeds
    assert server.calls == 6
    assert sum(clock.slept) == pytest.approx(5 + 5 + 30 + 30 + 30)
    assert states(caplog) == [
        "open",
        "half_open",
        "open",
        "half_open",
        "open",
        "half_open",
        "closed",
    ]


def test_a_stop_ends_a_stream_s_wait_without_a_retry() -> None:
    clock = Clock()
    stop = {"asked": False}
    guard = breaker(clock, stopping=lambda: stop["asked"], failures=1)

    def down() -> str:
        stop["asked"] = True  # a SIGTERM arrives while the server is down
        raise DOWN

    with pytest.raises(StoppedWhilePausedError, match="asked to stop; the micro-batch is not"):
        guard.guard(PG, "t", down, streaming=True)
    assert classify(StoppedWhilePausedError("x")) == "terminal"  # the stop was asked for
    assert explain(StoppedWhilePausedError("x")).code == ExitCode.UNREACHABLE


def test_a_disabled_breaker_lets_every_write_through() -> None:
    clock = Clock()
    guard = breaker(clock, enabled=False, failures=1)
    server = Server(down_for=3)
    for _ in range(3):
        with pytest.raises(SourceUnavailableError):
            guard.guard(PG, "t", server)
    assert server.calls == 3


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({"failures": 0}, r"circuit_breaker\.failures: Input should be greater than or equal to 1"),
        ({"cooldown": "soon"}, r"circuit_breaker\.cooldown: not a duration"),
        ({"window": "1m", "windw": 2}, r"circuit_breaker\.windw: Extra inputs are not permitted"),
    ],
)
def test_invalid_settings_name_the_key(raw: dict[str, Any], problem: str) -> None:
    with pytest.raises(
        ConfigError, match=rf"^Invalid circuit_breaker settings in runtime.yml: {problem}"
    ):
        parse_breaker_settings(raw)


def test_datasets_name_their_server_without_credentials() -> None:
    jdbc = JDBCDataset(url="jdbc:mysql://etl:s3cret@db.internal:3306/shop?ssl=true", table="t")
    assert jdbc.system() == "mysql://db.internal:3306"
    pg = JDBCDataset(url="jdbc:postgresql://127.0.0.1:25432/etl", table="t")
    assert pg.system() == "postgresql://127.0.0.1:25432"
    kafka = KafkaDataset(
        bootstrap_servers="b2:9092, b1:9092", topic="events", metadata={"schema": "user_event"}
    )
    assert kafka.system() == "kafka://b1:9092,b2:9092"
    local = S3Dataset(path="s3a://lake/x/", credentials={"endpoint": "http://127.0.0.1:25000"})
    assert local.system() == "s3://127.0.0.1:25000"
    assert S3Dataset(path="s3a://lake/x/", credentials={"region": "eu-west-1"}).system() == (
        "s3://aws/eu-west-1"
    )
