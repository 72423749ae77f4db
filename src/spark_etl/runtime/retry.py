"""The retry policy of pipeline runs: how often, how far apart, from ``conf/<env>/runtime.yml``.

::

    retry:
      default:              # every pipeline: 3 retries (4 attempts), 5 seconds apart
        retries: 3
        delay: 5
        backoff: fixed      # or exponential: delay, 2*delay, 4*delay ... up to max_delay
        max_delay: 60
        jitter: 0           # up to this many seconds added at random to each wait
      pipelines:
        streaming_kafka_pg: {retries: 10, backoff: exponential}

Only transient errors are retried (see :mod:`spark_etl.runtime.classify`). The run hook parses
the section into the run's context, where the retrying runner finds it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from tenacity import wait_exponential, wait_fixed, wait_random
from tenacity.wait import wait_base

from spark_etl._validation import problems, validated
from spark_etl.exceptions import ConfigError


class RetryPolicy(BaseModel):
    """How one pipeline is retried."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    retries: int = Field(3, ge=0, le=100)
    delay: float = Field(5.0, ge=0)
    backoff: Literal["fixed", "exponential"] = "fixed"
    max_delay: float = Field(60.0, ge=0)
    jitter: float = Field(0.0, ge=0)

    @property
    def attempts(self) -> int:
        """The first run plus the retries."""
        return self.retries + 1

    def wait(self) -> wait_base:
        """The tenacity wait strategy of this policy."""
        if self.backoff == "exponential":
            base: wait_base = wait_exponential(multiplier=self.delay, max=self.max_delay)
        else:
            base = wait_fixed(self.delay)
        return base + wait_random(0, self.jitter) if self.jitter else base


class RetrySettings(BaseModel):
    """The ``retry`` section of ``runtime.yml``: a default and per-pipeline overrides."""

    model_config = ConfigDict(extra="forbid")

    default: dict[str, Any] = Field(default_factory=dict)
    pipelines: dict[str, dict[str, Any]] = Field(default_factory=dict)

    def for_pipeline(self, name: str | None) -> RetryPolicy:
        """The default policy with the pipeline's overrides on top."""
        override = self.pipelines.get(name or "", {})
        return RetryPolicy(**{**self.default, **override})


def parse_retry_settings(raw: dict[str, Any] | None, source: str = "runtime.yml") -> RetrySettings:
    """Validate the ``retry`` section, and every pipeline's policy in it.

    Raises:
        ConfigError: naming the file, the key path and the problem.
    """
    settings = validated(RetrySettings, raw, key="retry", what="retry settings", source=source)
    # The default first: a pipeline's policy is the default with its own keys on top, so once
    # the default is valid, a failure of a pipeline's policy is one of its own keys.
    for where, name in [
        ("retry.default", None),
        *((f"retry.pipelines.{n}", n) for n in settings.pipelines),
    ]:
        try:
            settings.for_pipeline(name)
        except ValidationError as exc:
            said = problems(exc, where, values=True)
            raise ConfigError(f"Invalid retry settings in {source}: {said}.") from exc
    return settings
