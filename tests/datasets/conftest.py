"""Fixtures of the dataset tests: the real databases of the local stack, one test per server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from databases import Database


@pytest.fixture(params=["postgresql", "mysql"])
def db(request: pytest.FixtureRequest, services: dict[str, str]) -> Iterator[Database]:
    if request.param == "postgresql":
        conn = request.getfixturevalue("pg")

        def run_pg(sql: str) -> list[tuple[Any, ...]]:
            cur = conn.execute(sql)
            return list(cur.fetchall()) if cur.description else []

        yield Database(
            "postgresql",
            services["SPARK_ETL_PG_URL"],
            request.getfixturevalue("pg_credentials"),
            run_pg,
        )
    else:
        conn = request.getfixturevalue("mysql")

        def run_my(sql: str) -> list[tuple[Any, ...]]:
            with conn.cursor() as cur:
                cur.execute(sql)
                return list(cur.fetchall())

        yield Database(
            "mysql",
            services["SPARK_ETL_MYSQL_URL"],
            request.getfixturevalue("mysql_credentials"),
            run_my,
        )
