"""``kedro spark-etl delta history|optimize|vacuum`` as a user types them, on a table of the
real S3 server."""

from __future__ import annotations

from typing import Any

import pytest
from delta.tables import DeltaTable
from kedro_run import Env
from kedro_run import spark_etl_command as spark_etl
from pyspark.sql import SparkSession

from spark_etl.datasets import DeltaDataset

pytestmark = pytest.mark.integration


def test_history_optimize_and_vacuum_of_a_catalog_table(
    spark: SparkSession, s3_credentials: dict[str, Any], conf_env: Env, unique_name: str
) -> None:
    path = f"s3a://spark-etl-test/delta/{unique_name}/"
    conf_env.write(
        "catalog.yml",
        {
            "lake_table": {
                "type": "spark_etl.datasets.DeltaDataset",
                "path": path,
                "credentials": "s3",
            }
        },
    )
    table = DeltaDataset(path=path, credentials=s3_credentials)
    for start in (0, 10, 20):  # three commits of two files each
        table.save(spark.range(start, start + 10, 1, 2).selectExpr("id", "id % 3 AS part"))

    shown = spark_etl("delta", "history", "--dataset", "lake_table", "--env", conf_env.name)
    assert shown.returncode == 0, shown.stderr[-3000:]
    lines = shown.stdout.strip().splitlines()
    assert [line.split()[0] for line in lines[-3:]] == ["2", "1", "0"]
    assert all(" WRITE " in line and '"numOutputRows": "10"' in line for line in lines[-3:])

    done = spark_etl("delta", "optimize", "--dataset", "lake_table", "--env", conf_env.name)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "lake_table: 6 file(s) compacted into 1"
    latest = DeltaTable.forPath(spark, path).history(1).first()
    assert (latest["version"], latest["operation"]) == (3, "OPTIMIZE")
    assert table.load().count() == 30

    swept = spark_etl("delta", "vacuum", "--dataset", "lake_table", "--yes", "--env", conf_env.name)
    assert swept.returncode == 0, swept.stderr[-3000:]
    assert "lake_table: vacuumed (files older than Delta's default of 7 days" in swept.stdout
    at_first = DeltaDataset(path=path, credentials=s3_credentials, load_args={"versionAsOf": 0})
    assert at_first.load().count() == 10  # the compacted files are within the retention: kept

    wrong = spark_etl("delta", "history", "--dataset", "raw_user_events", "--env", conf_env.name)
    assert wrong.returncode == 1
    assert "'raw_user_events' is a S3Dataset, not a DeltaDataset" in wrong.stderr
