"""Deterministic sample data: the same seed always gives the same records.

Used by ``make demo`` (raw user events on the S3 server), by the integration tests (which compute
the expected results from the same records) and, at larger sizes, by the benchmarks.
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

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


COUNTRIES = ("DE", "FR", "NL", "US", "JP")
SEGMENTS = ("consumer", "business")
CURRENCIES = ("EUR", "USD")
STATUSES = ("pending", "completed", "failed", "refunded")
TRANSACTION_COLUMNS = (
    "transaction_id",
    "user_id",
    "amount",
    "currency",
    "transaction_time",
    "status",
    "metadata",
)


@dataclass(frozen=True)
class User:
    """One row of the reference table ``users`` (MySQL)."""

    user_id: str
    name: str
    country: str
    segment: str


@dataclass(frozen=True)
class Transaction:
    """One raw payment transaction, as the CSV export holds it."""

    transaction_id: str
    user_id: str
    amount_cents: int
    currency: str
    transaction_time: datetime
    status: str
    metadata: dict[str, str]

    @property
    def amount(self) -> str:
        """The amount as the decimal text the CSV holds."""
        return f"{self.amount_cents // 100}.{self.amount_cents % 100:02d}"


def users(count: int, seed: int = 42) -> list[User]:
    """``count`` users ``user-00000`` ... with a country and a segment."""
    rng = random.Random(seed)
    return [
        User(f"user-{i:05d}", f"User {i}", rng.choice(COUNTRIES), rng.choice(SEGMENTS))
        for i in range(count)
    ]


def transactions(count: int, users: int = 100, seed: int = 42) -> Iterator[Transaction]:
    """``count`` transactions of ``users`` users (ids as :func:`users` makes them)."""
    rng = random.Random(seed)
    for i in range(count):
        yield Transaction(
            transaction_id=f"txn-{seed}-{i:09d}",
            user_id=f"user-{rng.randrange(users):05d}",
            amount_cents=rng.randrange(100, 100_000),
            currency=rng.choice(CURRENCIES),
            transaction_time=_START + timedelta(seconds=rng.randrange(31 * 24 * 3600)),
            status=rng.choices(STATUSES, weights=(10, 80, 7, 3))[0],
            metadata={"channel": rng.choice(("web", "app", "pos"))},
        )


def transactions_csv(rows: list[Transaction]) -> str:
    """The transactions as CSV text with a header; ``metadata`` is a JSON object."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(TRANSACTION_COLUMNS)
    for t in rows:
        writer.writerow(
            [
                t.transaction_id,
                t.user_id,
                t.amount,
                t.currency,
                t.transaction_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
                t.status,
                json.dumps(t.metadata, sort_keys=True),
            ]
        )
    return out.getvalue()
