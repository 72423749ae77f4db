"""Incremental S3 sources through ``kedro run``: each run reads the files no earlier successful
run read, whatever their number."""

from __future__ import annotations

from typing import Any

import pytest
from kedro_run import LAKE_BUCKET, RAW_BUCKET, Env, clear_prefix, run_end, s3_client
from pyspark.sql import SparkSession

from spark_etl.datasets import S3Dataset

pytestmark = pytest.mark.integration

HEADER = "order_id,amount"


def test_each_run_reads_the_files_not_read_yet(
    conf_env: Env, spark: SparkSession, services: dict[str, str], s3_credentials: dict[str, Any]
) -> None:
    name = f"incr-files-{conf_env.name}"
    s3 = s3_client(services)
    conf_env.write(
        "catalog.yml",
        {
            "order_files": {
                "type": "spark_etl.datasets.S3Dataset",
                "path": f"s3a://{RAW_BUCKET}/{name}/",
                "file_format": "csv",
                "credentials": "s3",
                "incremental": True,
                "load_args": {"header": True, "schema": "order_id STRING, amount DOUBLE"},
            },
            "orders_lake": {
                "type": "spark_etl.datasets.S3Dataset",
                "path": f"s3a://{LAKE_BUCKET}/{name}/out/",
                "file_format": "avro",
                "write_mode": "append",
                "credentials": "s3",
            },
        },
    )
    conf_env.write(
        "pipelines/land_orders.yml",
        {
            "id": "land_orders",
            "sources": ["order_files"],
            "steps": [{"transform": "select", "params": {"columns": ["order_id", "amount"]}}],
            "sink": {"dataset": "orders_lake"},
        },
    )
    conf_env.write(
        "runtime.yml",
        {"state": {"path": f"s3a://{LAKE_BUCKET}/{name}/state/", "credentials": "s3"}},
    )
    out = S3Dataset(
        path=f"s3a://{LAKE_BUCKET}/{name}/out/", file_format="avro", credentials=s3_credentials
    )

    def put(key: str, first: int, count: int) -> None:
        rows = [f"o-{i},{i}.5" for i in range(first, first + count)]
        s3.put_object(Bucket=RAW_BUCKET, Key=f"{name}/{key}", Body="\n".join([HEADER, *rows]))

    def reads() -> int:
        end = run_end(conf_env.run("land_orders"))
        assert "order_files" in end["reads"], end["message"]
        return int(end["reads"]["order_files"]["records"])

    try:
        put("day=1/a.csv", 0, 10)
        put("day=1/b.csv", 10, 5)
        assert reads() == 15
        assert reads() == 0  # no new file
        put("day=2/c.csv", 15, 7)
        assert reads() == 7
        landed = sorted(r.order_id for r in out.load().collect())
        assert landed == sorted(f"o-{i}" for i in range(22))  # each record once
    finally:
        clear_prefix(s3, RAW_BUCKET, f"{name}/")
        clear_prefix(s3, LAKE_BUCKET, f"{name}/")
