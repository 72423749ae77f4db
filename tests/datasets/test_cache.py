"""A source's ``cache`` setting against the real PostgreSQL: read once, refreshed, checked."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from databases import seq_scans
from kedro.io import DatasetError
from pyspark.sql import SparkSession

from spark_etl.datasets import JDBCDataset
from spark_etl.datasets._cache import release_cached
from spark_etl.datasets.exceptions import DatasetConfigError
from spark_etl.runtime.hooks import SparkHooks

pytestmark = pytest.mark.integration


@pytest.fixture
def ref_table(pg: Any) -> Iterator[str]:
    name = f"ref_{uuid.uuid4().hex[:8]}"
    pg.execute(f"CREATE TABLE {name} (user_id text PRIMARY KEY, segment text)")
    pg.execute(f"INSERT INTO {name} VALUES ('u1', 'a'), ('u2', 'b')")
    yield name
    pg.execute(f"DROP TABLE IF EXISTS {name}")


def test_a_cached_source_is_read_once_then_again_after_its_refresh(
    spark: SparkSession,
    pg: Any,
    services: dict[str, str],
    pg_credentials: dict[str, str],
    ref_table: str,
) -> None:
    ds = JDBCDataset(
        url=services["SPARK_ETL_PG_URL"],
        table=ref_table,
        credentials=pg_credentials,
        cache={"refresh": "10s", "broadcast": True},
    )
    before = seq_scans(pg, ref_table)
    ref = ds.load()
    again = ds.load()  # a second load (another node, a retry) gets the same copy
    events = spark.createDataFrame([("u1",), ("u2",), ("u2",)], "user_id string")
    assert sorted(tuple(r) for r in events.join(ref, "user_id").collect()) == [
        ("u1", "a"),
        ("u2", "b"),
        ("u2", "b"),
    ]
    assert again.count() == 2
    assert seq_scans(pg, ref_table) - before == 1
    pg.execute(f"INSERT INTO {ref_table} VALUES ('u3', 'c')")
    assert ref.count() == 2  # the copy, until its refresh
    deadline = time.monotonic() + 60
    while ref.count() != 3:
        assert time.monotonic() < deadline, "the cache was not refreshed"
        time.sleep(0.5)
    ds._cache.close()  # type: ignore[union-attr]


@pytest.mark.parametrize("run_end", ["after_pipeline_run", "on_pipeline_error"])
def test_the_end_of_a_run_drops_the_copy_and_the_next_run_reads_the_source(
    run_end: str,
    pg: Any,
    services: dict[str, str],
    pg_credentials: dict[str, str],
    ref_table: str,
) -> None:
    """A later run in the same process (a notebook, an orchestrator's worker) reads the table as
    it is then, not the copy an earlier run left in Spark's cache."""
    ds = JDBCDataset(
        url=services["SPARK_ETL_PG_URL"],
        table=ref_table,
        credentials=pg_credentials,
        cache={"refresh": "1h"},
    )
    before = seq_scans(pg, ref_table)
    assert ds.load().count() == 2
    pg.execute(f"INSERT INTO {ref_table} VALUES ('u3', 'c')")
    assert ds.load().count() == 2  # the run's copy
    getattr(SparkHooks(), run_end)()
    assert ds._cache is not None and not ds._cache.filled
    assert release_cached() == 0  # nothing left to drop
    assert ds.load().count() == 3  # the next run reads the source again
    assert seq_scans(pg, ref_table) - before == 2
    assert release_cached() == 1


@pytest.mark.parametrize(
    ("cache", "message"),
    [
        ({"refresh": "soon"}, "cache.refresh 'soon' is not a duration"),
        ({"every": "1m"}, "cache takes true, or {refresh: 10m, broadcast: true}; got every"),
        ({"refresh": "0s"}, "cache.refresh must be longer than 0"),
    ],
)
def test_cache_settings_are_checked(cache: dict[str, Any], message: str) -> None:
    with pytest.raises(DatasetConfigError, match=message):
        JDBCDataset(url="jdbc:postgresql://h/db", table="t", cache=cache)


def test_an_incremental_source_cannot_be_cached() -> None:
    ds = JDBCDataset(
        url="jdbc:postgresql://h/db", table="t", incremental={"cursor": "updated_at"}, cache=True
    )
    with pytest.raises(DatasetError, match="use one of them") as raised:
        ds.load()
    assert isinstance(raised.value.__cause__, DatasetConfigError)
