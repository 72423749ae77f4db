"""S3Dataset against the real S3 API server of the local stack (moto in server mode)."""

from __future__ import annotations

import io
import logging
from datetime import datetime
from typing import Any

import fastavro
import pytest
from kedro.io import DatasetError
from kedro_run import s3_client
from py4j.protocol import Py4JError
from pyspark.sql import SparkSession
from pyspark.testing import assertDataFrameEqual

from spark_etl import _sql_metrics
from spark_etl.contracts import default_registry
from spark_etl.datasets import S3Dataset
from spark_etl.datasets.exceptions import DatasetConfigError, SourceUnavailableError

pytestmark = pytest.mark.integration

BUCKET = "spark-etl-test"
ROWS = [
    ("a", 1, "2026-01-01", datetime(2026, 1, 1, 1)),
    ("b", 2, "2026-01-02", datetime(2026, 1, 2, 2)),
]
SCHEMA = "id string, n long, day string, ts timestamp"


@pytest.mark.parametrize("file_format", ["avro", "parquet", "csv", "json"])
def test_round_trip_each_format(
    spark: SparkSession, s3_credentials: dict[str, Any], unique_name: str, file_format: str
) -> None:
    df = spark.createDataFrame(ROWS, SCHEMA)
    args = {"header": True, "schema": SCHEMA} if file_format in ("csv", "json") else {}
    ds = S3Dataset(
        path=f"s3a://{BUCKET}/{unique_name}/",
        file_format=file_format,
        credentials=s3_credentials,
        load_args=args,
        save_args={"header": True} if file_format == "csv" else {},
    )
    assert not ds.exists()
    ds.save(df)
    assert ds.exists()
    assertDataFrameEqual(ds.load(), df)


def test_append_then_overwrite(
    spark: SparkSession, s3_credentials: dict[str, Any], unique_name: str
) -> None:
    path = f"s3a://{BUCKET}/{unique_name}/"
    df = spark.createDataFrame(ROWS, SCHEMA)
    appender = S3Dataset(path=path, write_mode="append", credentials=s3_credentials)
    appender.save(df)
    appender.save(df)
    assert appender.load().count() == 4
    S3Dataset(path=path, write_mode="overwrite", credentials=s3_credentials).save(df.limit(1))
    assert appender.load().count() == 1


@pytest.mark.parametrize("partition_by", [None, ["day"]])
def test_a_save_counts_the_rows_it_wrote_from_sparks_write_metrics(
    spark: SparkSession,
    s3_credentials: dict[str, Any],
    unique_name: str,
    partition_by: list[str] | None,
) -> None:
    """The count of a file write is Spark's own metric of that write (no counter in the job),
    found by the job description the save runs under; the caller's description comes back."""
    ds = S3Dataset(
        path=f"s3a://{BUCKET}/{unique_name}/",
        write_mode="append",
        partition_by=partition_by,
        credentials=s3_credentials,
    )
    rows = spark.range(1_234).selectExpr("cast(id as string) id", "id % 3 day")
    spark.sparkContext.setJobDescription("the caller's own")
    try:
        ds.save(rows.filter("id % 2 = 0"))
        assert spark.sparkContext.getLocalProperty("spark.job.description") == "the caller's own"
    finally:
        spark.sparkContext.setJobDescription(None)  # type: ignore[arg-type]
    assert ds.last_save is not None and ds.last_save.records == 617
    ds.save(rows.limit(5))  # another write, counted on its own
    assert ds.last_save.records == 5
    assert ds.load().count() == 622
    executions = spark._jsparkSession.sharedState().statusStore().executionsList()
    plans = [str(e.physicalPlanDescription()) for e in _scala_list(executions)]
    written = [p for p in plans if "InsertIntoHadoopFsRelationCommand" in p and unique_name in p]
    assert len(written) == 2
    assert not any("CollectMetrics" in p for p in written)


def test_a_count_spark_cannot_give_never_fails_the_write(
    spark: SparkSession,
    s3_credentials: dict[str, Any],
    unique_name: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Spark's status store is an internal API: should a Spark version change it, the files are
    still written and the count is unknown, with a warning. (Simulated: the failure cannot be
    made with the Spark this project pins.)"""

    def unreadable(spark: SparkSession, description: str) -> list[Any]:
        raise Py4JError("statusStore() does not exist")

    monkeypatch.setattr(_sql_metrics, "_executions", unreadable)
    ds = S3Dataset(path=f"s3a://{BUCKET}/{unique_name}/", credentials=s3_credentials)
    with caplog.at_level(logging.WARNING, logger="spark_etl._sql_metrics"):
        ds.save(spark.createDataFrame(ROWS, SCHEMA))
    assert ds.load().count() == 2
    assert ds.last_save is not None and ds.last_save.records is None
    assert "Could not read the metrics of 'spark-etl save s3a://" in caplog.text


def _scala_list(seq: Any) -> list[Any]:
    items, it = [], seq.iterator()
    while it.hasNext():
        items.append(it.next())
    return items


def test_partition_by_and_dynamic_overwrite(
    spark: SparkSession, s3_credentials: dict[str, Any], unique_name: str
) -> None:
    path = f"s3a://{BUCKET}/{unique_name}/"
    S3Dataset(path=path, partition_by=["day"], credentials=s3_credentials).save(
        spark.createDataFrame(ROWS, SCHEMA)
    )
    dynamic = S3Dataset(
        path=path,
        partition_by=["day"],
        credentials=s3_credentials,
        save_args={"partitionOverwriteMode": "dynamic"},
    )
    dynamic.save(spark.createDataFrame([("c", 3, "2026-01-02", datetime(2026, 1, 2, 3))], SCHEMA))
    back = S3Dataset(path=path, credentials=s3_credentials).load()
    # partition discovery infers the type of the `day=` directories: dates
    assert sorted((r.id, str(r.day)) for r in back.collect()) == [
        ("a", "2026-01-01"),
        ("c", "2026-01-02"),
    ]
    glob = S3Dataset(
        path=f"s3a://{BUCKET}/{unique_name}/day=2026-01-0*/", credentials=s3_credentials
    )
    assert glob.load().count() == 2


def test_upsert_refused_at_config_time() -> None:
    with pytest.raises(
        DatasetConfigError, match="S3Dataset cannot 'upsert': plain files have no keys"
    ):
        S3Dataset(path="s3a://b/p", write_mode="upsert")


def test_unknown_format_refused() -> None:
    with pytest.raises(DatasetConfigError, match="unknown file_format 'xml'"):
        S3Dataset(path="s3a://b/p", file_format="xml")


def test_server_down_is_transient_and_named(spark: SparkSession) -> None:
    creds = {
        "access_key": "k",
        "secret_key": "s",
        "endpoint": "http://127.0.0.1:1",
        "path_style_access": True,
    }
    # Fail fast: no s3a or SDK retries against a port nothing listens on.
    ds = S3Dataset(
        path="s3a://spark-etl-down/x/",
        credentials=creds,
        s3a_options={
            "retry.limit": 0,
            "attempts.maximum": 0,
            "retry.throttle.limit": 0,
            "connection.establish.timeout": "1s",
        },
    )
    with pytest.raises(DatasetError, match=r"S3 at http://127\.0\.0\.1:1 is not reachable") as info:
        ds.load()
    assert isinstance(info.value.__cause__, SourceUnavailableError)


def test_describe_has_no_secret(s3_credentials: dict[str, Any]) -> None:
    ds = S3Dataset(path="s3a://b/p", credentials=s3_credentials)
    assert s3_credentials["secret_key"] not in repr(ds)
    assert s3_credentials["endpoint"] in repr(ds)


@pytest.mark.parametrize("schema", ["user_event", "user_summary", "transaction", "dead_letter"])
def test_avro_files_carry_the_registered_schema(
    spark: SparkSession,
    s3_credentials: dict[str, Any],
    services: dict[str, str],
    unique_name: str,
    schema: str,
) -> None:
    contract = default_registry().get(schema)
    rows = spark.createDataFrame([], contract.spark_schema)
    ds = S3Dataset(
        path=f"s3a://{BUCKET}/{unique_name}/",
        credentials=s3_credentials,
        metadata={"schema": schema},
    )
    # The columns arrive in another order: the writer puts them in the contract's.
    ds.save(rows.select(*reversed(rows.columns)))
    assert ds.load().schema.simpleString() == contract.spark_schema.simpleString()

    s3 = s3_client(services)
    keys = [
        o["Key"]
        for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=unique_name)["Contents"]
        if o["Key"].endswith(".avro")
    ]
    body = s3.get_object(Bucket=BUCKET, Key=keys[0])["Body"].read()
    writer_schema = fastavro.reader(io.BytesIO(body)).writer_schema
    assert writer_schema is not None
    # the registered schema's full name: the example's namespace, or spark-etl's for dead_letter
    assert writer_schema["name"] == f"{contract.avro['namespace']}.{schema}"
    assert contract.avro["namespace"] in ("spark_etl_example", "io.spark_etl")
    assert [f["name"] for f in writer_schema["fields"]] == contract.spark_schema.fieldNames()


def test_user_events_keep_their_enum_in_the_avro_file(
    spark: SparkSession, s3_credentials: dict[str, Any], unique_name: str
) -> None:
    contract = default_registry().get("user_event")
    df = spark.createDataFrame(
        [("e1", "u1", "purchase", datetime(2026, 1, 1), {"k": "v"}, 5.0)], contract.spark_schema
    )
    ds = S3Dataset(
        path=f"s3a://{BUCKET}/{unique_name}/",
        credentials=s3_credentials,
        metadata={"schema": "user_event"},
    )
    ds.save(df)
    assertDataFrameEqual(ds.load(), df)


@pytest.mark.parametrize(("file_format", "committer"), [("avro", "file"), ("parquet", "magic")])
def test_writes_use_the_classic_committer_by_default(
    spark: SparkSession,
    s3_credentials: dict[str, Any],
    services: dict[str, str],
    unique_name: str,
    file_format: str,
    committer: str,
) -> None:
    ds = S3Dataset(
        path=f"s3a://{BUCKET}/{unique_name}/",
        file_format=file_format,
        credentials=s3_credentials,
        committer=committer,
    )
    ds.save(spark.createDataFrame(ROWS, SCHEMA))
    assert ds.load().count() == 2
    s3 = s3_client(services)
    marker = s3.get_object(Bucket=BUCKET, Key=f"{unique_name}/_SUCCESS")["Body"].read()
    assert marker == b""  # Hadoop's classic committer writes an empty marker (S3A's a manifest)


@pytest.mark.parametrize("committer", ["magic", "directory", "partitioned"])
def test_an_s3a_committer_without_the_cloud_commit_protocol_is_refused_before_writing(
    spark: SparkSession,
    s3_credentials: dict[str, Any],
    services: dict[str, str],
    unique_name: str,
    committer: str,
) -> None:
    # Spark's default commit protocol lets such committers write straight into the folder, so a
    # failed job would leave partial files: the write is refused, and nothing reaches S3.
    ds = S3Dataset(
        path=f"s3a://{BUCKET}/{unique_name}/", credentials=s3_credentials, committer=committer
    )
    with pytest.raises(DatasetError, match=f"committer '{committer}' needs .*PathOutput") as err:
        ds.save(spark.createDataFrame(ROWS, SCHEMA))
    assert isinstance(err.value.__cause__, DatasetConfigError)  # Kedro wraps what save raises
    listed = s3_client(services).list_objects_v2(Bucket=BUCKET, Prefix=unique_name)
    assert listed["KeyCount"] == 0


def test_a_failed_job_leaves_no_data_file_behind(
    spark: SparkSession,
    s3_credentials: dict[str, Any],
    services: dict[str, str],
    unique_name: str,
) -> None:
    s3 = s3_client(services)

    def data_files() -> list[str]:
        listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=unique_name).get("Contents", [])
        return sorted(o["Key"] for o in listed if "_temporary" not in o["Key"])

    ds = S3Dataset(path=f"s3a://{BUCKET}/{unique_name}/", credentials=s3_credentials)
    df = spark.createDataFrame(ROWS, SCHEMA)
    ds.save(df)
    before = data_files()
    # Two tasks: the first writes its file, the second fails, so the job aborts.
    failing = spark.range(0, 2, numPartitions=2).selectExpr(
        "cast(id as string) as id",
        "if(id = 1, raise_error('boom'), id) as n",
        "'2026-01-03' as day",
        "timestamp'2026-01-03 00:00:00' as ts",
    )
    with pytest.raises(Exception, match="boom"):
        ds.save(failing)
    assert data_files() == before
    assertDataFrameEqual(ds.load(), df)


def test_unknown_committer_is_refused() -> None:
    with pytest.raises(DatasetConfigError, match="unknown committer 'rename'"):
        S3Dataset(path="s3a://b/p", committer="rename")


def test_a_failed_first_write_leaves_no_folder_behind(
    spark: SparkSession,
    s3_credentials: dict[str, Any],
    services: dict[str, str],
    unique_name: str,
) -> None:
    ds = S3Dataset(path=f"s3a://{BUCKET}/{unique_name}/", credentials=s3_credentials)
    failing = spark.range(0, 2, numPartitions=2).selectExpr(
        "cast(id as string) as id", "if(id = 1, raise_error('boom'), id) as n"
    )
    with pytest.raises(Exception, match="boom"):
        ds.save(failing)
    # Not even the directory marker S3A leaves when the aborted job cleans up.
    assert s3_client(services).list_objects_v2(Bucket=BUCKET, Prefix=unique_name)["KeyCount"] == 0
    assert not ds.exists()
