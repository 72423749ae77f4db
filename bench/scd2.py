"""The SCD2 benchmark: ``JDBCDataset`` with ``write_mode: scd2`` against a hand-written SCD Type 2
load on PostgreSQL.

Both load the same batch (every key of the dimension again, a tenth of them with a changed city)
into a copy of the same dimension, each round on a fresh copy made before the clock starts. The
hand-written load is what a data engineer writes on one connection: ``COPY`` of the batch (its CSV
built before the clock) into a temporary table, then in one transaction the two statements,
``UPDATE ... FROM`` closing the changed current versions and ``INSERT ... SELECT`` opening a
version for every key with no current one left. The dataset stages the batch from Spark's tasks
(``bulk_load: true``: ``COPY`` of the files they write) and refuses a batch with a repeated key.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from spark_etl.datasets import JDBCDataset

#: Rounds of each side; each figure is the median.
ROUNDS = 3
_COLUMNS = "id text, name text, city text, segment text"
_TRACKED = ("name", "city", "segment")


def _batch(spark: SparkSession, rows: int) -> DataFrame:
    """Every key again; the city of every tenth one changed."""
    batch = spark.range(rows).select(
        F.format_string("c%09d", F.col("id")).alias("id"),
        F.format_string("Customer %d", F.col("id")).alias("name"),
        F.when(F.col("id") % 10 == 0, F.lit("Lisbon"))
        .otherwise(F.format_string("City %d", F.col("id") % 50))
        .alias("city"),
        F.format_string("segment-%d", F.col("id") % 3).alias("segment"),
    )
    batch.cache().count()
    return batch


def _csv(frame: DataFrame) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    for row in frame.toLocalIterator():
        writer.writerow(row)
    return out.getvalue().encode()


def bench_scd2_pg(
    spark: SparkSession,
    rows: int,
    *,
    url: str,
    credentials: dict[str, str],
    conn: Any,
    median_rounds: Callable[..., tuple[list[float], list[float]]],
) -> dict[str, Any]:
    """Rounds of both loads of ``rows`` rows (10 % changed) into a dimension of ``rows`` current
    versions; the median seconds of each, the CPU seconds and the versions in each table."""
    batch = _batch(spark, rows)
    payload = _csv(batch)
    tables = {name: f"bench_scd2_{name}" for name in ("framework", "baseline")}

    def reset(table: str) -> Callable[[], None]:
        def run() -> None:
            conn.execute(f"DROP TABLE IF EXISTS {table}")
            conn.execute(
                f"CREATE TABLE {table} ({_COLUMNS}, valid_from timestamp NOT NULL, "
                "valid_to timestamp, is_current boolean NOT NULL, PRIMARY KEY (id, valid_from))"
            )
            conn.execute(
                f"INSERT INTO {table} SELECT 'c' || lpad(g::text, 9, '0'), 'Customer ' || g, "
                f"'City ' || (g % 50), 'segment-' || (g % 3), '2026-01-01', NULL, true "
                f"FROM generate_series(0, {rows - 1}) g"
            )
            conn.execute(f"VACUUM ANALYZE {table}")

        return run

    def framework() -> None:
        JDBCDataset(
            url=url,
            table=tables["framework"],
            credentials=credentials,
            write_mode="scd2",
            key_columns=["id"],
            bulk_load=True,
            scd2={"tracked_columns": list(_TRACKED)},
        ).save(batch)

    def baseline() -> None:
        table = tables["baseline"]
        changed = " OR ".join(f"t.{c} IS DISTINCT FROM s.{c}" for c in _TRACKED)
        with conn.transaction():
            conn.execute(f"CREATE TEMP TABLE stage ({_COLUMNS}) ON COMMIT DROP")
            with conn.cursor().copy("COPY stage FROM STDIN WITH (FORMAT csv)") as copy:
                copy.write(payload)
            conn.execute(
                f"UPDATE {table} t SET valid_to = now(), is_current = false FROM stage s "
                f"WHERE t.id = s.id AND t.is_current AND ({changed})"
            )
            conn.execute(
                f"INSERT INTO {table} SELECT s.*, now(), NULL, true FROM stage s "
                f"WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE t.id = s.id AND t.is_current)"
            )

    walls, cpus = median_rounds(
        spark,
        [framework, baseline],
        ROUNDS,
        [reset(tables["framework"]), reset(tables["baseline"])],
    )
    versions = {
        name: tuple(
            conn.execute(
                f"SELECT count(*), count(*) FILTER (WHERE is_current) FROM {table}"
            ).fetchone()
        )
        for name, table in tables.items()
    }
    batch.unpersist()
    return {
        "framework_s": walls[0],
        "baseline_s": walls[1],
        "cpu_s": {"framework": round(cpus[0], 2), "baseline": round(cpus[1], 2)},
        "versions_after": versions,
        "rounds": ROUNDS,
    }
