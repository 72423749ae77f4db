"""Lengths of time written in configuration: one parser for the transforms' windows and
watermarks, the streaming triggers and the quality rules' freshness.

Two spellings: Spark's interval text (``10 minutes``, ``1 hour 30 minutes``, ``interval 5
seconds``), which windows and triggers hand to Spark as they are, and the short form of the
quality rules (``30m``, ``7d``), which also take Spark's.
"""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {
    "week": timedelta(weeks=1),
    "day": timedelta(days=1),
    "hour": timedelta(hours=1),
    "minute": timedelta(minutes=1),
    "second": timedelta(seconds=1),
    "millisecond": timedelta(milliseconds=1),
    "microsecond": timedelta(microseconds=1),
}
_SPARK = re.compile(rf"^(interval\s+)?(\d+\s*({'|'.join(_UNITS)})s?\s*)+$", re.IGNORECASE)
_SPARK_PART = re.compile(r"(\d+)\s*([a-z]+?)s?\b", re.IGNORECASE)
_SHORT = re.compile(r"^(\d+)\s*(s|m|h|d)$")
_SHORT_UNITS = {"s": "second", "m": "minute", "h": "hour", "d": "day"}
SPARK_HINT = (
    "write a number and a unit, e.g. '10 minutes', '1 hour', '30 seconds' (units: week, day, "
    "hour, minute, second, millisecond)"
)


def spark_interval(text: str) -> timedelta:
    """The length of Spark's interval text (no months or years: they have no fixed length).

    Raises:
        ValueError: saying how to write one.
    """
    if not _SPARK.match(text.strip()):
        raise ValueError(f"not a duration Spark understands; {SPARK_HINT}")
    parts = _SPARK_PART.findall(text)
    return sum((int(n) * _UNITS[unit.lower()] for n, unit in parts), timedelta())


def duration(text: str) -> timedelta:
    """The length of ``30m``, ``7d`` (s, m, h, d) or of Spark's interval text.

    Raises:
        ValueError: saying how to write one.
    """
    short = _SHORT.match(text.strip())
    if short:
        return int(short.group(1)) * _UNITS[_SHORT_UNITS[short.group(2)]]
    try:
        return spark_interval(text)
    except ValueError:
        raise ValueError(
            f"not a duration: write a number and s, m, h or d ('30m', '7d'), or {SPARK_HINT}"
        ) from None
