"""Deterministic transactions and users for the example's further pipelines (the same seed always
gives the same records); user events come from the example project's own ``sample_data``."""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_START = datetime(2026, 1, 1, tzinfo=UTC)

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
