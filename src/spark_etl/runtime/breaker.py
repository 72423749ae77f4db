"""A circuit breaker per system the sinks write to, from ``runtime.yml``::

    circuit_breaker:
      enabled: true
      failures: 5        # consecutive transient write failures of one system within `window`
      window: 10m        #   open its circuit
      cooldown: 1m       # then its writes fail fast (a stream waits) this long; one write probes
      stream_retry: 5s   # a stream's failed write is tried again after this, in place

A *system* is the server a sink's writes reach (``postgresql://db:5432``, the Kafka brokers, the
S3 endpoint): every dataset writing to it shares its circuit. Only transient failures count (a
server down, a broken connection); a write the server refused for its data says nothing of the
server's health. The states:

* **closed**: writes go through. A transient failure is counted; ``failures`` of them in a row
  within ``window`` open the circuit.
* **open**: for ``cooldown``, a batch write fails at once with :class:`CircuitOpenError`
  (transient: the retry policy may try again later) without reaching the server; a streaming
  micro-batch waits instead, so its query pauses rather than fails.
* **half-open**: after the cooldown, one write probes. It closes the circuit if it succeeds and
  opens it again if it fails; writes meanwhile are treated as in the open state.

A streaming micro-batch whose write fails while the circuit is closed is written again after
``stream_retry``, in place (its query keeps its state and never restarts for it), until the
circuit opens; then it waits and probes. A stop of the stream (a signal, ``max_duration_s``)
ends the wait: the batch is not committed and is read again by the next run. Every transition
is logged as a ``circuit_breaker`` event.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from spark_etl._validation import validated
from spark_etl.exceptions import SourceUnavailableError
from spark_etl.runtime.classify import classify
from spark_etl.runtime.failure import headline
from spark_etl.runtime.timeouts import Length, length_text

logger = logging.getLogger(__name__)

T = TypeVar("T")
State = Literal["closed", "open", "half_open"]
#: How often a paused stream looks whether it should stop.
_WAIT_STEP_S = 0.5


class BreakerSettings(BaseModel):
    """The ``circuit_breaker`` section of ``runtime.yml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    failures: int = Field(5, ge=1, le=1000)
    window: Length = timedelta(minutes=10)
    cooldown: Length = timedelta(minutes=1)
    stream_retry: Length = timedelta(seconds=5)


def parse_breaker_settings(
    raw: dict[str, Any] | None, source: str = "runtime.yml"
) -> BreakerSettings:
    """Validate the ``circuit_breaker`` section.

    Raises:
        ConfigError: naming the file, the key path, the problem and the value.
    """
    return validated(
        BreakerSettings, raw, key="circuit_breaker", what="circuit_breaker settings", source=source
    )


class CircuitOpenError(SourceUnavailableError):
    """A write refused at once: its system failed too often lately (the circuit is open)."""


class StoppedWhilePausedError(SourceUnavailableError):
    """A stream asked to stop while its write waited for the server: not retried (the stop
    was asked for), and told as an unreachable server."""

    transient = False


@dataclass
class _Circuit:
    """What the breaker knows of one system."""

    system: str
    state: State = "closed"
    failed_at: deque[float] = field(default_factory=deque)
    opened_at: float = 0.0
    last_error: str = ""
    probing: bool = False


class CircuitBreaker:
    """The circuits of the systems one process writes to (a hook owns it for the session).

    Args:
        settings: the ``circuit_breaker`` of ``runtime.yml``.
        stopping: whether the run's streams are asked to stop (ends a paused stream's wait).
        clock: seconds, monotonic (tests pass their own, with ``sleep``).
        sleep: how to wait.
    """

    def __init__(
        self,
        settings: BreakerSettings,
        stopping: Callable[[], bool] = lambda: False,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self._stopping = stopping
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._circuits: dict[str, _Circuit] = {}

    def state(self, system: str) -> State:
        """The state of ``system``'s circuit now."""
        with self._lock:
            circuit = self._circuits.get(system)
            return "closed" if circuit is None else circuit.state

    def guard(
        self, system: str, target: str, write: Callable[[], T], *, streaming: bool = False
    ) -> T:
        """Run ``write`` (a write to ``target`` on ``system``) through ``system``'s circuit.

        Raises:
            CircuitOpenError: a batch write while the circuit is open.
            StoppedWhilePausedError: a streaming write whose stream is asked to stop while it
                waits.
        """
        if not self.settings.enabled:
            return write()
        while True:
            probe = self._admit(system, target, streaming)
            try:
                result = write()
            except Exception as exc:
                if classify(exc) != "transient":  # the server answered: it refused the data
                    self._succeeded(system, target, probe, "the server answered the probe")
                    raise
                opened = self._failed(system, target, exc, probe)
                if not streaming:
                    raise
                if not opened:
                    self._wait(self.settings.stream_retry.total_seconds(), system, target)
                continue
            self._succeeded(system, target, probe, "the probe succeeded")
            return result

    # -- the states ----------------------------------------------------------------------------

    def _admit(self, system: str, target: str, streaming: bool) -> bool:
        """Let a write through (``True``: it is the half-open probe); while the circuit is open,
        refuse a batch write and hold a streaming one until it may probe."""
        while True:
            with self._lock:
                circuit = self._circuits.setdefault(system, _Circuit(system))
                if circuit.state == "closed":
                    return False
                left = circuit.opened_at + self.settings.cooldown.total_seconds() - self._clock()
                if left <= 0 and not circuit.probing:
                    circuit.state, circuit.probing = "half_open", True
                    self._log(circuit, target, logging.INFO, "one write probes it")
                    return True
                error = circuit.last_error
            if not streaming:
                raise CircuitOpenError(self._refusal(system, target, left, error))
            self._wait(max(left, _WAIT_STEP_S), system, target)

    def _failed(self, system: str, target: str, exc: BaseException, probe: bool) -> bool:
        """Count a transient failure; whether the circuit is (now) open."""
        with self._lock:
            circuit = self._circuits.setdefault(system, _Circuit(system))
            now = self._clock()
            circuit.last_error = headline(exc)
            if probe:
                circuit.state, circuit.opened_at, circuit.probing = "open", now, False
                self._log(circuit, target, logging.WARNING, "the probe failed")
                return True
            if circuit.state != "closed":  # let through before another write opened it
                return True
            circuit.failed_at.append(now)
            window = self.settings.window.total_seconds()
            while circuit.failed_at and now - circuit.failed_at[0] > window:
                circuit.failed_at.popleft()
            if len(circuit.failed_at) < self.settings.failures:
                return False
            circuit.state, circuit.opened_at = "open", now
            self._log(
                circuit,
                target,
                logging.WARNING,
                f"{len(circuit.failed_at)} writes in a row failed within {length_text(window)}",
            )
            return True

    def _succeeded(self, system: str, target: str, probe: bool, why: str) -> None:
        with self._lock:
            circuit = self._circuits.setdefault(system, _Circuit(system))
            circuit.failed_at.clear()
            if probe:
                circuit.state, circuit.probing = "closed", False
                self._log(circuit, target, logging.INFO, why)

    def _wait(self, seconds: float, system: str, target: str) -> None:
        """Wait ``seconds``, or until the streams are asked to stop."""
        end = self._clock() + seconds
        while (left := end - self._clock()) > 0:
            if self._stopping():
                with self._lock:
                    error = self._circuits[system].last_error
                raise StoppedWhilePausedError(
                    f"Writes to {target} on {system} waited for the server when the stream was "
                    f"asked to stop; the micro-batch is not committed and the next run reads it "
                    f"again. The last failure: {error}"
                )
            self._sleep(min(left, _WAIT_STEP_S))

    # -- what it says --------------------------------------------------------------------------

    def _refusal(self, system: str, target: str, left: float, error: str) -> str:
        settings = self.settings
        return (
            f"Writes to {system} are paused by the circuit breaker: {settings.failures} writes "
            f"in a row failed within {length_text(settings.window.total_seconds())} "
            f"(circuit_breaker in runtime.yml), so the write to {target} was not tried. The next "
            f"write probes the server in {length_text(max(left, 0.0))}. The last failure: {error}"
        )

    def _log(self, circuit: _Circuit, target: str, level: int, why: str) -> None:
        cooldown = self.settings.cooldown.total_seconds()
        said = {
            "open": f"open: {why}; writes wait {length_text(cooldown)}",
            "half_open": f"half-open: {why}",
            "closed": f"closed: {why}",
        }[circuit.state]
        logger.log(
            level,
            "Circuit of %s (writing %s) %s",
            circuit.system,
            target,
            said,
            extra={
                "event": "circuit_breaker",
                "system": circuit.system,
                "target": target,
                "state": circuit.state,
                "failures": len(circuit.failed_at),
                "cooldown_s": cooldown,
                "error": circuit.last_error or None,
            },
        )
