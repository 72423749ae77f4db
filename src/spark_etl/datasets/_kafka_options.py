"""Options of the Kafka strategy's reader and writer: offsets, timestamps, SASL, closed choices."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from spark_etl.datasets.exceptions import DatasetConfigError


def choice(name: str, value: str, allowed: tuple[str, ...]) -> Any:
    """``value`` of the setting ``name`` if it is one of ``allowed``.

    Raises:
        DatasetConfigError: naming the setting, the value and the choices.
    """
    if value not in allowed:
        raise DatasetConfigError(
            f"KafkaDataset: unknown {name} '{value}'; use one of {', '.join(allowed)}."
        )
    return value


def offset_options(
    start: str | dict[str, Any],
    end: str | dict[str, Any],
    start_ts: int | str | None,
    end_ts: int | str | None,
) -> dict[str, str]:
    """The reader's ``startingOffsets``/``endingOffsets`` (``earliest``, ``latest`` or offsets
    per partition), and ``startingTimestamp``/``endingTimestamp`` when given.

    Raises:
        DatasetConfigError: for a timestamp that is neither epoch milliseconds nor ISO-8601.
    """
    options = {
        "startingOffsets": start if isinstance(start, str) else json.dumps(start),
        "endingOffsets": end if isinstance(end, str) else json.dumps(end),
    }
    if start_ts is not None:
        options["startingTimestamp"] = str(_epoch_ms(start_ts))
    if end_ts is not None:
        options["endingTimestamp"] = str(_epoch_ms(end_ts))
    return options


def _epoch_ms(value: int | str) -> int:
    if isinstance(value, int):
        return value
    try:
        return int(datetime.fromisoformat(value).timestamp() * 1000)
    except ValueError as exc:
        raise DatasetConfigError(
            f"KafkaDataset: timestamp '{value}' is neither epoch milliseconds nor ISO-8601."
        ) from exc


def security_options(credentials: Mapping[str, Any]) -> dict[str, str]:
    """The clients' SASL options for ``credentials`` (``security_protocol``, ``sasl_mechanism``,
    ``username``, ``password``), as ``kafka.*`` reader/writer options; none without credentials."""
    if not credentials:
        return {}
    options = {"kafka.security.protocol": str(credentials.get("security_protocol", "SASL_SSL"))}
    mechanism = str(credentials.get("sasl_mechanism", "PLAIN"))
    options["kafka.sasl.mechanism"] = mechanism
    module = (
        "org.apache.kafka.common.security.scram.ScramLoginModule"
        if mechanism.startswith("SCRAM")
        else "org.apache.kafka.common.security.plain.PlainLoginModule"
    )
    options["kafka.sasl.jaas.config"] = (
        f'{module} required username="{credentials.get("username", "")}" '
        f'password="{credentials.get("password", "")}";'
    )
    return options
