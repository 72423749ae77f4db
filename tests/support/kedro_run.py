"""Helpers of the pipeline tests: run a pipeline of the example project in-process as ``kedro run``
does, read its log, put data where its catalog reads."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import yaml
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from pyspark.sql import SparkSession

from spark_etl.runtime.runner import RetryingRunner

REPO = Path(__file__).resolve().parents[2]
#: The example project, whose pipelines these tests run.
ROOT = REPO / "example"
RAW_BUCKET = "spark-etl-example-raw"
LAKE_BUCKET = "spark-etl-example-lake"
KEDRO = str(REPO / ".venv" / "bin" / "kedro")


def local_stack(*args: str) -> None:
    """``kedro services ARGS`` in the example project (``up postgres``, ``down kafka``)."""
    subprocess.run(
        [KEDRO, "services", *args], cwd=ROOT, check=True, capture_output=True, timeout=180
    )


class Env:
    """A Kedro environment of the example project (``conf/<name>/``), written for one test."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.path = ROOT / "conf" / name

    def write(self, relative: str, content: Any) -> Path:
        """Write ``content`` (text, or data as YAML) to ``conf/<name>/<relative>``."""
        target = self.path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
        return target

    def run(
        self, pipeline: str, *extra: str, environ: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """``kedro run --pipeline PIPELINE --env NAME EXTRA...`` as a user runs it, with the
        environment variables ``environ`` besides this process's."""
        return self._kedro("run", "--pipelines", pipeline, *extra, environ=environ)

    def check(
        self, pipeline: str, environ: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """``kedro check --pipelines PIPELINE --env NAME``, as :meth:`run` runs a pipeline."""
        return self._kedro("check", "--pipelines", pipeline, environ=environ)

    def _kedro(self, command: str, *args: str, environ: dict[str, str] | None) -> Any:
        env = {**os.environ, "DO_NOT_TRACK": "1", "KEDRO_DISABLE_TELEMETRY": "1"}
        env.pop("SPARK_ETL_RUN_LOG", None)
        env.pop("SPARK_ETL_SCHEMAS_DIR", None)
        env.update(environ or {})
        return subprocess.run(
            [KEDRO, command, *args, "--env", self.name],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )


def spark_etl_command(*args: str) -> subprocess.CompletedProcess[str]:
    """``kedro spark-etl ARGS`` in the example project, as a user types it."""
    return subprocess.run(
        [KEDRO, "spark-etl", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "DO_NOT_TRACK": "1", "KEDRO_DISABLE_TELEMETRY": "1"},
    )


def run_end(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The ``run_end`` event of a ``kedro run`` that must have succeeded."""
    assert done.returncode == 0, done.stderr + done.stdout[-3000:]
    events = [json.loads(x) for x in done.stdout.splitlines() if x.startswith("{")]
    (end,) = [e for e in events if e.get("event") == "run_end"]
    return end


def kill_while_writing(env: Env, pipeline: str, sink: str) -> None:
    """``kedro run`` of ``pipeline``, killed with SIGKILL (its JVM too) once it saves ``sink``."""
    killed = subprocess.Popen(
        [KEDRO, "run", "--pipelines", pipeline, "--env", env.name],
        cwd=ROOT,
        env={**os.environ, "DO_NOT_TRACK": "1", "KEDRO_DISABLE_TELEMETRY": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,  # its own process group: the JVM dies with it
    )
    assert killed.stdout is not None
    deadline = time.monotonic() + 180
    for line in killed.stdout:
        if f"Saving data to {sink}" in line or time.monotonic() > deadline:
            break
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait(timeout=30)
    assert killed.returncode == -signal.SIGKILL


def run_pipeline(name: str, log: io.StringIO | None = None) -> None:
    """``kedro run --pipelines NAME`` in-process, from the example project's folder (as the command
    line runs it: relative paths in conf/ are the project's), with spark-etl's retrying runner.

    With ``log``, a console handler like conf/logging.yml's writes the run's log lines there.
    """
    handler = logging.StreamHandler(log) if log is not None else None
    root = logging.getLogger()
    with contextlib.chdir(ROOT):
        bootstrap_project(ROOT)
        with KedroSession.create(project_path=ROOT) as session:
            if handler is not None:
                root.addHandler(handler)
            try:
                session.run(pipeline_names=[name], runner=RetryingRunner())
            finally:
                if handler is not None:
                    root.removeHandler(handler)


def json_events(text: str) -> list[dict[str, Any]]:
    """The structured log events among captured output lines."""
    events = []
    for line in text.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if "event" in record:
                events.append(record)
    return events


def s3_client(services: dict[str, str]) -> Any:
    """A boto3 client of the local S3 server."""
    return boto3.client(
        "s3",
        endpoint_url=services["SPARK_ETL_S3_ENDPOINT"],
        aws_access_key_id=services["SPARK_ETL_S3_ACCESS_KEY"],
        aws_secret_access_key=services["SPARK_ETL_S3_SECRET_KEY"],
        region_name="us-east-1",
    )


def clear_prefix(s3: Any, bucket: str, prefix: str) -> None:
    """Delete every object under ``prefix``."""
    for obj in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
        s3.delete_object(Bucket=bucket, Key=obj["Key"])


@contextlib.contextmanager
def kafka_admin(spark: SparkSession, bootstrap: str) -> Iterator[Any]:
    """Kafka's admin client on Spark's classpath, and its ten-second wait."""
    jvm = spark._jvm
    assert jvm is not None
    props = jvm.java.util.Properties()
    props.put("bootstrap.servers", bootstrap)
    admin = jvm.org.apache.kafka.clients.admin.Admin.create(props)
    try:
        yield admin, jvm.java.util.concurrent.TimeUnit.SECONDS
    finally:
        admin.close()


def topic_names(spark: SparkSession, bootstrap: str) -> set[str]:
    """The broker's topics."""
    with kafka_admin(spark, bootstrap) as (admin, seconds):
        return set(admin.listTopics().names().get(10, seconds))


def reset_topic(spark: SparkSession, bootstrap: str, topic: str) -> None:
    """Delete ``topic`` if it exists."""
    with kafka_admin(spark, bootstrap) as (admin, seconds):
        if topic in set(admin.listTopics().names().get(10, seconds)):
            assert spark._jvm is not None
            admin.deleteTopics(spark._jvm.java.util.List.of(topic)).all().get(10, seconds)
            while topic in set(admin.listTopics().names().get(10, seconds)):
                time.sleep(0.2)


def produce_events(
    spark: SparkSession, bootstrap: str, events: list[Any], topic: str = "user-events"
) -> None:
    """Write user events to ``topic`` in their order (one partition, one writer)."""
    from spark_etl.contracts import default_registry
    from spark_etl.datasets import KafkaDataset

    contract = default_registry().get("user_event")
    rows = [
        (
            e.event_id,
            e.user_id,
            e.event_type,
            e.timestamp.replace(tzinfo=None),
            e.properties,
            e.amount,
        )
        for e in events
    ]
    frame = spark.createDataFrame(rows, contract.spark_schema).coalesce(1)
    KafkaDataset(bootstrap_servers=bootstrap, topic=topic, metadata={"schema": "user_event"}).save(
        frame
    )


def put_raw(services: dict[str, str], prefix: str, body: str) -> Any:
    """Replace everything under ``s3a://spark-etl-example-raw/<prefix>`` with one CSV object."""
    s3 = s3_client(services)
    clear_prefix(s3, RAW_BUCKET, prefix)
    s3.put_object(Bucket=RAW_BUCKET, Key=f"{prefix}part-0000.csv", Body=body.encode())
    return s3


def create_users_table(mysql: Any, rows: list[Any]) -> None:
    """A fresh ``users`` reference table in MariaDB holding ``rows``."""
    with mysql.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS users")
        cur.execute(
            "CREATE TABLE users (user_id VARCHAR(20) PRIMARY KEY, name VARCHAR(64) "
            "NOT NULL, country CHAR(2) NOT NULL, segment VARCHAR(16) NOT NULL)"
        )
        cur.executemany(
            "INSERT INTO users VALUES (%s, %s, %s, %s)",
            [(u.user_id, u.name, u.country, u.segment) for u in rows],
        )
