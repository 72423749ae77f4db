"""How long a node and a pipeline may run, from ``conf/<env>/runtime.yml``::

    timeouts:
      default:
        node: 2h               # each node, the writes of its outputs included (null: no limit)
        pipeline: 6h           # the whole run, its retries included
        on_timeout: transient  # transient: retried like a server that went away; terminal: not
      pipelines:
        batch_s3_pg:
          pipeline: 30m
          nodes: {summarise_users: 10m}   # a node's own limit, by its name

A length is ``90s``, ``30m``, ``2h``, ``1d``, Spark's interval text (``1 hour 30 minutes``) or a
number of seconds. A pipeline past its time always ends the run: its retries would be late too.
The retrying runner enforces them (:mod:`spark_etl.runtime.watchdog`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from spark_etl._durations import duration
from spark_etl._validation import validated
from spark_etl.exceptions import EtlError, TerminalError, TransientError

OnTimeout = Literal["transient", "terminal"]


def _length(value: Any) -> Any:
    """``30m`` and Spark's interval text as a timedelta; numbers (seconds) as they are."""
    return duration(value) if isinstance(value, str) else value


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("a timeout must be longer than 0 seconds")
    return value


Length = Annotated[timedelta, BeforeValidator(_length), AfterValidator(_positive)]


class TimeoutPolicy(BaseModel):
    """The limits of one pipeline (or the default of every pipeline)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    node: Length | None = None
    pipeline: Length | None = None
    nodes: dict[str, Length] = Field(default_factory=dict)
    on_timeout: OnTimeout = "transient"


@dataclass(frozen=True)
class Limit:
    """A time limit and the key of ``runtime.yml`` that set it (for the message)."""

    seconds: float
    setting: str

    def said(self) -> str:
        """``2 s``, ``10 min``, ``1 h 30 min``: the limit as a person reads it."""
        return length_text(self.seconds)


def length_text(seconds: float) -> str:
    """A length of time in the largest units that say it exactly enough."""
    if seconds < 60:
        return f"{seconds:g} s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{hours} h"] if hours else []
    parts += [f"{minutes} min"] if minutes else []
    parts += [f"{secs} s"] if secs else []
    return " ".join(parts)


class TimeoutSettings(BaseModel):
    """The ``timeouts`` section of ``runtime.yml``: a default and per-pipeline overrides."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default: TimeoutPolicy = Field(default_factory=TimeoutPolicy)
    pipelines: dict[str, TimeoutPolicy] = Field(default_factory=dict)

    def node_limit(self, pipeline: str | None, node: str) -> Limit | None:
        """The limit of ``node`` in ``pipeline``: its own, the pipeline's, else the default's."""
        own = self.pipelines.get(pipeline or "")
        candidates = [
            (own.nodes.get(node) if own else None, f"pipelines.{pipeline}.nodes.{node}"),
            (own.node if own else None, f"pipelines.{pipeline}.node"),
            (self.default.nodes.get(node), f"default.nodes.{node}"),
            (self.default.node, "default.node"),
        ]
        return next(
            (Limit(v.total_seconds(), f"timeouts.{k}") for v, k in candidates if v is not None),
            None,
        )

    def pipeline_limit(self, pipeline: str | None) -> Limit | None:
        """The limit of the whole run of ``pipeline``."""
        own = self.pipelines.get(pipeline or "")
        if own is not None and own.pipeline is not None:
            return Limit(own.pipeline.total_seconds(), f"timeouts.pipelines.{pipeline}.pipeline")
        if self.default.pipeline is not None:
            return Limit(self.default.pipeline.total_seconds(), "timeouts.default.pipeline")
        return None

    def on_timeout(self, pipeline: str | None) -> OnTimeout:
        """Whether a node past its time is retried (``transient``) or ends the run."""
        own = self.pipelines.get(pipeline or "")
        if own is not None and "on_timeout" in own.model_fields_set:
            return own.on_timeout
        return self.default.on_timeout

    def named_nodes(self, pipeline: str | None) -> dict[str, str]:
        """The node names these settings give limits to, each with its key."""
        own = self.pipelines.get(pipeline or "")
        named = {n: f"timeouts.default.nodes.{n}" for n in self.default.nodes}
        for name in own.nodes if own else {}:
            named[name] = f"timeouts.pipelines.{pipeline}.nodes.{name}"
        return named


def parse_timeout_settings(
    raw: dict[str, Any] | None, source: str = "runtime.yml"
) -> TimeoutSettings:
    """Validate the ``timeouts`` section.

    Raises:
        ConfigError: naming the file, the key path, the problem and the value.
    """
    return validated(TimeoutSettings, raw, key="timeouts", what="timeouts", source=source)


class RunTimeoutError(EtlError):
    """A node or a whole pipeline ran past the time ``runtime.yml`` gives it."""


class RetriedTimeoutError(RunTimeoutError, TransientError):
    """A node past its time, with ``on_timeout: transient``: the runner retries it."""


class FinalTimeoutError(RunTimeoutError, TerminalError):
    """A node past its time with ``on_timeout: terminal``, or a pipeline past its time."""
