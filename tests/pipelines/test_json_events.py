"""A new user's streaming source as ``kedro run`` meets it: Kafka JSON events with epoch-millisecond
and ISO times, their contract in a schema folder outside the checkout (``SPARK_ETL_SCHEMAS_DIR``
or ``runtime.yml``'s ``schemas_dir``), and the message when the folder is not named."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest
from kedro_run import ROOT, Env
from pyspark.sql import SparkSession

pytestmark = pytest.mark.integration

CLICK = {
    "type": "record",
    "name": "click_event",
    "fields": [
        {"name": "event_id", "type": "string"},
        {"name": "user_id", "type": "string"},
        {"name": "clicked_at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "amount", "type": ["null", "double"], "default": None},
    ],
}
VALUES = [
    {"event_id": "a", "user_id": "u1", "clicked_at": 1767268800123, "amount": 1.5},
    {"event_id": "b", "user_id": "u2", "clicked_at": "2026-01-01T12:00:00Z", "amount": None},
    {"event_id": "c", "user_id": "u3", "clicked_at": "2026-01-01T12:00:00.250+01:00"},
    {"event_id": "d", "user_id": "u4", "clicked_at": "soon"},  # no time: a dead letter
    {"event_id": "e", "user_id": "u5", "clicked_at": 1767268801000, "amount": -2.0},
]


@pytest.fixture
def contracts(tmp_path: Path) -> Path:
    """A schema folder outside the checkout: the example's contracts and ``click_event``."""
    folder = tmp_path / "contracts"
    shutil.copytree(ROOT / "schemas", folder)
    (folder / "click_event.avsc").write_text(json.dumps(CLICK))
    return folder


@pytest.fixture
def clicks_env(
    conf_env: Env, spark: SparkSession, services: dict[str, str], tmp_path: Path
) -> tuple[Env, Path]:
    """The topic of ``VALUES``, a catalog reading it with epoch_unit ms and a declared pipeline
    writing the positive-amount or unpriced clicks with their time as epoch ms."""
    topic = f"clicks-{uuid.uuid4().hex[:8]}"
    bootstrap = services["SPARK_ETL_KAFKA_BOOTSTRAP"]
    (
        spark.createDataFrame([(json.dumps(v).encode(),) for v in VALUES], "value binary")
        .coalesce(1)
        .write.format("kafka")
        .option("kafka.bootstrap.servers", bootstrap)
        .option("topic", topic)
        .save()
    )
    out = tmp_path / "clicks_out"
    conf_env.write(
        "catalog.yml",
        {
            "json_clicks": {
                "type": "spark_etl.datasets.KafkaDataset",
                "bootstrap_servers": bootstrap,
                "topic": topic,
                "value_format": "json",
                "epoch_unit": "ms",
                "metadata": {"schema": "click_event"},
            },
            "clicks_out": {
                "type": "spark_etl.datasets.S3Dataset",
                "path": str(out),
                "file_format": "parquet",
                "write_mode": "overwrite",
            },
        },
    )
    conf_env.write(
        "pipelines/json_clicks.yml",
        {
            "id": "json_clicks",
            "sources": ["json_clicks"],
            "steps": [
                {"transform": "filter", "params": {"condition": "coalesce(amount, 0) >= 0"}},
                {
                    "transform": "derive",
                    "params": {"columns": {"clicked_ms": "unix_millis(clicked_at)"}},
                },
            ],
            "sink": {"dataset": "clicks_out", "write_mode": "overwrite"},
        },
    )
    return conf_env, out


def written(spark: SparkSession, out: Path) -> dict[str, Any]:
    return {r.event_id: r.clicked_ms for r in spark.read.parquet(str(out)).collect()}


def test_a_schema_folder_named_by_the_environment_and_epoch_ms_times(
    clicks_env: tuple[Env, Path], contracts: Path, spark: SparkSession
) -> None:
    env, out = clicks_env
    run = env.run("json_clicks", environ={"SPARK_ETL_SCHEMAS_DIR": str(contracts)})
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert written(spark, out) == {"a": 1767268800123, "b": 1767268800000, "c": 1767265200250}


def test_a_schema_folder_named_in_runtime_yml(
    clicks_env: tuple[Env, Path], contracts: Path, spark: SparkSession
) -> None:
    env, out = clicks_env
    env.write("runtime.yml", {"schemas_dir": str(contracts)})
    run = env.run("json_clicks")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert sorted(written(spark, out)) == ["a", "b", "c"]


def test_a_contract_outside_the_schema_folder_says_how_to_name_its_folder(
    clicks_env: tuple[Env, Path],
) -> None:
    env, out = clicks_env
    run = env.run("json_clicks")
    assert run.returncode != 0
    said = run.stdout + run.stderr
    # the console names the project's paths from the project's folder
    assert "Error: Dataset 'json_clicks': Schema 'click_event' is not in schemas (known: " in said
    assert "set SPARK_ETL_SCHEMAS_DIR or runtime.yml's schemas_dir" in said
    assert "Traceback" not in said
    assert not out.exists()
    # a folder named wrongly is named back, with what named it
    missing = out.parent / "no-such-folder"
    run = env.run("json_clicks", environ={"SPARK_ETL_SCHEMAS_DIR": str(missing)})
    assert run.returncode != 0
    assert f"Schema folder '{missing}' (SPARK_ETL_SCHEMAS_DIR) not found" in (
        run.stdout + run.stderr
    )
