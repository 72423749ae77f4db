"""The Delta upsert benchmark: ``DeltaDataset`` upsert against a hand-written ``DeltaTable.merge``.

Both merge the same batch (half of its keys in the table with other values, half new) into a
copy of the same table on the local S3 server, each round on a fresh copy written before the
clock starts. The hand-written merge is what a data engineer writes first: ``whenMatchedUpdateAll``
and ``whenNotMatchedInsertAll``, with no check for keys repeated in the batch and no writer
lease. The dataset adds both, and updates a row only when a value changed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from spark_etl.datasets import DeltaDataset
from spark_etl.datasets._s3_location import S3Location

#: Rounds of each side; each figure is the median.
ROUNDS = 5


def _rows(spark: SparkSession, rows: int, offset: int, price_factor: float) -> DataFrame:
    return spark.range(offset, offset + rows).select(
        F.format_string("k%09d", F.col("id")).alias("id"),
        (F.col("id") % 1000).alias("qty"),
        (F.col("id") * price_factor).alias("price"),
    )


def bench_upsert_delta(
    spark: SparkSession,
    rows: int,
    root: str,
    credentials: dict[str, Any],
    median_rounds: Callable[..., tuple[list[float], list[float]]],
) -> dict[str, Any]:
    """Rounds of both merges of ``rows`` rows (half updates) into tables under ``root``; the
    median seconds of each, the CPU seconds and the rows left in each table."""
    initial = _rows(spark, rows, 0, 0.25)
    batch = _rows(spark, rows, rows // 2, 0.5)  # its first half updates the table's second half
    batch.cache().count()
    paths = {name: f"{root}/delta_upsert_{name}" for name in ("framework", "baseline")}
    S3Location(root, credentials).configure(spark)  # the bucket's endpoint and keys

    def reset(name: str) -> Callable[[], None]:
        return lambda: initial.write.format("delta").mode("overwrite").save(paths[name])

    def framework() -> None:
        DeltaDataset(
            path=paths["framework"],
            credentials=credentials,
            write_mode="upsert",
            key_columns=["id"],
        ).save(batch)

    def baseline() -> None:
        (
            DeltaTable.forPath(spark, paths["baseline"])
            .alias("t")
            .merge(batch.alias("s"), "t.id = s.id")
            .whenMatchedUpdateAll()
            .whenNotMatchedInsertAll()
            .execute()
        )

    walls, cpus = median_rounds(
        spark, [framework, baseline], ROUNDS, [reset("framework"), reset("baseline")]
    )
    left = {name: spark.read.format("delta").load(path).count() for name, path in paths.items()}
    batch.unpersist()
    return {
        "framework_s": walls[0],
        "baseline_s": walls[1],
        "cpu_s": {"framework": round(cpus[0], 2), "baseline": round(cpus[1], 2)},
        "rows_after": left,
        "rounds": ROUNDS,
    }
