"""Deterministic sample user events, what the pipelines must make of them, and the clients of the
local servers that put them in place and read the results back.

The same seed always gives the same events. ``make demo`` puts them on the local S3 server; the
tests compute the expected rows from the same events in plain Python (the oracle the pipelines'
output is compared with).
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

EVENT_TYPES = ("page_view", "click", "add_to_cart", "purchase", "signup")
USER_EVENT_COLUMNS = ("event_id", "user_id", "event_type", "timestamp", "properties", "amount")
_START = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class UserEvent:
    """One raw user event, as the CSV export of the source system holds it."""

    event_id: str
    user_id: str
    event_type: str
    timestamp: datetime
    properties: dict[str, str]
    amount: float | None


def user_events(count: int, users: int = 100, seed: int = 42) -> Iterator[UserEvent]:
    """``count`` events of ``users`` users over January 2026; purchases carry an amount."""
    rng = random.Random(seed)
    for i in range(count):
        event_type = rng.choices(EVENT_TYPES, weights=(50, 25, 12, 8, 5))[0]
        amount = round(rng.uniform(1, 500), 2) if event_type == "purchase" else None
        yield UserEvent(
            event_id=f"evt-{seed}-{i:09d}",
            user_id=f"user-{rng.randrange(users):05d}",
            event_type=event_type,
            timestamp=_START + timedelta(seconds=rng.randrange(31 * 24 * 3600)),
            properties={"page": f"/p/{rng.randrange(50)}", "device": rng.choice(("web", "ios"))},
            amount=amount,
        )


def user_events_csv(events: list[UserEvent]) -> str:
    """The events as CSV text with a header; ``properties`` is a JSON object in a quoted field."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(USER_EVENT_COLUMNS)
    for e in events:
        writer.writerow(
            [
                e.event_id,
                e.user_id,
                e.event_type,
                e.timestamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
                json.dumps(e.properties, sort_keys=True),
                "" if e.amount is None else f"{e.amount:.2f}",
            ]
        )
    return out.getvalue()


@dataclass
class UserSummary:
    """The expected ``user_summary`` row of one user (amounts summed in cents: no float drift)."""

    total_events: int = 0
    total_cents: int = 0
    last_event_time: datetime = _START
    event_type_counts: dict[str, int] = field(default_factory=dict)

    @property
    def total_amount(self) -> float:
        """The summed amount."""
        return self.total_cents / 100


def expected_user_summary(events: list[UserEvent]) -> dict[str, UserSummary]:
    """What ``batch_s3_pg`` must produce per user, computed in plain Python (the test oracle)."""
    summary: dict[str, UserSummary] = {}
    for e in events:
        row = summary.setdefault(e.user_id, UserSummary())
        row.total_events += 1
        row.total_cents += round((e.amount or 0.0) * 100)
        row.last_event_time = max(row.last_event_time, e.timestamp)
        row.event_type_counts[e.event_type] = row.event_type_counts.get(e.event_type, 0) + 1
    return summary


def expected_daily_event_counts(events: list[UserEvent]) -> dict[tuple[datetime, str], int]:
    """What ``batch_event_counts`` must produce: events per (day, event type)."""
    days = Counter(
        (e.timestamp.replace(hour=0, minute=0, second=0, microsecond=0), e.event_type)
        for e in events
    )
    return dict(days)


RAW_KEY = "user_events/part-0000.csv"


def put_user_events(stack: Mapping[str, str], bucket: str, events: list[UserEvent]) -> Any:
    """Replace the raw events under ``s3a://<bucket>/user_events/`` with ``events`` as one CSV
    object, on the S3 server of ``stack`` (``spark_etl.stack.read_local_stack``); return the
    boto3 client."""
    import boto3  # noqa: PLC0415 - a development dependency (spark-etl[local])

    s3 = boto3.client(
        "s3",
        endpoint_url=stack["SPARK_ETL_S3_ENDPOINT"],
        aws_access_key_id=stack["SPARK_ETL_S3_ACCESS_KEY"],
        aws_secret_access_key=stack["SPARK_ETL_S3_SECRET_KEY"],
        region_name=stack.get("SPARK_ETL_S3_REGION", "us-east-1"),
    )
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="user_events/")
    for obj in listed.get("Contents", []):
        s3.delete_object(Bucket=bucket, Key=obj["Key"])
    s3.put_object(Bucket=bucket, Key=RAW_KEY, Body=user_events_csv(events).encode())
    return s3


def connect_postgres(stack: Mapping[str, str], *, autocommit: bool = True) -> Any:
    """A psycopg connection to the PostgreSQL of ``stack`` (``spark_etl.stack.read_local_stack``),
    to read back what a run wrote."""
    import psycopg  # noqa: PLC0415 - a development dependency

    return psycopg.connect(
        host=stack["SPARK_ETL_PG_HOST"],
        port=stack["SPARK_ETL_PG_PORT"],
        dbname=stack["SPARK_ETL_PG_DB"],
        user=stack["SPARK_ETL_PG_USER"],
        password=stack["SPARK_ETL_PG_PASSWORD"],
        autocommit=autocommit,
    )
