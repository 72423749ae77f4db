"""Helpers of the database tests: one real server, its URL, credentials and a plain client."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class Database:
    """One real server: its URL and credentials, and a plain client for setup and read-back."""

    name: str
    url: str
    credentials: dict[str, str]
    run: Callable[[str], list[tuple[Any, ...]]]

    def rows(self, table: str) -> list[tuple[Any, ...]]:
        return self.run(f"SELECT id, qty, price, updated_at FROM {table} ORDER BY id")


def tables_of(db: Database) -> list[str]:
    """The tables of the test database."""
    if db.name == "postgresql":
        return [r[0] for r in db.run("SELECT tablename FROM pg_tables WHERE schemaname='public'")]
    return [r[0] for r in db.run("SHOW TABLES")]


def seq_scans(pg: Any, table: str) -> int:
    """PostgreSQL's count of full scans of ``table`` so far (``pg_stat_user_tables``). A server
    process reports its counters at most once a second, and at its end: wait that long."""
    time.sleep(1.2)
    pg.execute("SELECT pg_stat_clear_snapshot()")
    row = pg.execute("SELECT seq_scan FROM pg_stat_user_tables WHERE relname = %s", (table,))
    return int(row.fetchone()[0])
