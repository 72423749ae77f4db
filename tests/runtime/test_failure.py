"""How a failed run is told: the kind, the exit code and the first line of each failure."""

from __future__ import annotations

from pathlib import Path

import pytest
from kedro.io import DatasetError
from kedro.validation.exceptions import DataValidationError
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException
from pyspark.sql import SparkSession

from spark_etl.contracts.exceptions import ContractViolationError
from spark_etl.datasets import S3Dataset
from spark_etl.datasets.exceptions import DatasetConfigError, SourceMissingError
from spark_etl.exceptions import EtlError, SourceUnavailableError
from spark_etl.runtime.failure import ExitCode, explain, headline
from spark_etl.runtime.run_hooks import _runner_name
from spark_etl.vault.exceptions import SecretNotFoundError


def wrapped(inner: Exception, outer: Exception) -> Exception:
    outer.__cause__ = inner
    return outer


def test_a_dataset_kedro_could_not_create_is_named_with_its_file(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.yml"
    catalog.write_text("other:\n  type: x\nuser_summary:\n  type: y\n")
    error = wrapped(
        DatasetConfigError("JDBCDataset: unknown write_mode 'upsrt'."),
        DatasetError("Failed to instantiate dataset 'user_summary' of type 'y'."),
    )
    failure = explain(error, [catalog])
    assert failure.code == ExitCode.CONFIG and failure.kind == "configuration"
    assert failure.message == (
        f"Catalog entry 'user_summary' ({catalog}:3): JDBCDataset: unknown write_mode 'upsrt'."
    )


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ContractViolationError("Dataset 'x' does not meet contract 'y'", {}), ExitCode.DATA),
        (DataValidationError("rules failed"), ExitCode.DATA),
        (SourceMissingError("nothing at s3a://b/p"), ExitCode.DATA),
        (SourceUnavailableError("PostgreSQL at h:1 is not reachable"), ExitCode.UNREACHABLE),
        (SecretNotFoundError("No secret 'a.b' in the vault"), ExitCode.CONFIG),
        (EtlError("something of ours"), ExitCode.FAILED),
        (KeyError("nope"), ExitCode.FAILED),
    ],
)
def test_each_kind_has_its_exit_code(error: Exception, code: ExitCode) -> None:
    assert explain(wrapped(error, RuntimeError("wrapper"))).code == code


def test_an_unknown_catalog_key_lists_the_options() -> None:
    error = wrapped(
        TypeError("JDBCDataset.__init__() got an unexpected keyword argument 'key_colums'"),
        DatasetError(
            "\nJDBCDataset.__init__() got an unexpected keyword argument 'key_colums'.\n"
            "Dataset 'users' must only contain arguments valid for the constructor of "
            "'spark_etl.datasets.jdbc.JDBCDataset'."
        ),
    )
    failure = explain(error)
    assert failure.code == ExitCode.CONFIG
    first, options = failure.message.splitlines()
    assert (
        first == "Catalog entry 'users': JDBCDataset has no option 'key_colums'. Did you "
        "mean 'key_columns'?"
    )
    assert options.startswith("Its options: url, table, query, credentials, write_mode")


def test_a_config_file_error_names_the_key() -> None:
    conf = OmegaConf.create({"ds": {"url": "${services:pg}"}})
    with pytest.raises(OmegaConfBaseException) as info:
        OmegaConf.to_container(conf, resolve=True)
    failure = explain(info.value)
    assert failure.code == ExitCode.CONFIG
    assert failure.message.splitlines()[0] == (
        "Unsupported interpolation type services (at ds.url)"
    )


def test_an_unknown_pipeline_gets_the_close_names(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SPARK_ETL_PIPELINES_DIR", str(tmp_path))
    error = ValueError(
        "Failed to find the pipeline named 'batch_s3_pq'. It needs to be generated and returned "
        "by the 'register_pipelines' function. Did you mean one of these instead?\n"
        "    batch_s3_pg\n    batch_s3_mysql_s3"
    )
    failure = explain(error)
    assert failure.message == (
        "There is no pipeline named 'batch_s3_pq'. Did you mean 'batch_s3_pg' or "
        "'batch_s3_mysql_s3'?"
    )


def test_the_block_is_short_and_points_at_the_log(tmp_path: Path) -> None:
    long = "\n".join(f"line {i}" for i in range(40))
    block = explain(DataValidationError(f"rules failed\n{long}")).block(tmp_path / "run.jsonl")
    lines = block.splitlines()
    assert lines[0] == "Error: rules failed"
    assert len(lines) <= 18 and "more lines in the log" in block
    assert lines[-1] == f"(exit code 3: data error; the full report is in {tmp_path}/run.jsonl)"
    assert headline(DataValidationError("first\nsecond")) == "first"


def test_the_runner_is_named_by_its_class() -> None:
    assert _runner_name("<spark_etl.runtime.runner.RetryingRunner object at 0x7f00ab>") == (
        "RetryingRunner"
    )
    assert _runner_name("SequentialRunner") == "SequentialRunner"
    assert _runner_name(None) is None


def test_a_record_that_does_not_parse_names_file_record_and_value(
    spark: SparkSession, tmp_path: Path
) -> None:
    (tmp_path / "a.csv").write_text("id,at\ne1,2026-01-01T00:00:00Z\ne2,yesterday\n")
    source = S3Dataset(
        path=str(tmp_path),
        file_format="csv",
        load_args={"header": True, "mode": "FAILFAST", "schema": "id STRING, at TIMESTAMP"},
    )
    with pytest.raises(Exception) as info:
        source.load().write.format("noop").mode("overwrite").save()
    failure = explain(info.value)
    assert failure.code == ExitCode.DATA
    assert failure.message == (
        f"A source record does not parse as its schema says in file://{tmp_path}/a.csv "
        "(record [e2,null]): the value 'yesterday' is not a TIMESTAMP."
    )
    assert "DROPMALFORMED" in failure.todo


def test_a_failure_after_some_nodes_ends_with_the_command_that_resumes(tmp_path: Path) -> None:
    error = DataValidationError("rules failed")
    error.spark_etl_resume_from = ["load_facts", "report"]  # type: ignore[attr-defined]
    wrapped = DatasetError("saving failed")
    wrapped.__cause__ = error
    block = explain(wrapped).block(tmp_path / "run.jsonl", command="kedro run --pipelines n")
    assert (
        "Nodes that finished keep their outputs; to run only what did not finish: "
        'kedro run --pipelines n --from-nodes "load_facts,report"'
    ) in block.splitlines()
    assert "--from-nodes" not in explain(DataValidationError("x")).block(command="kedro run")
    # a run with its own node selection: the options to add, not a rebuilt command line
    assert block.replace("kedro run --pipelines n ", "add ").replace(
        '"load_facts,report"', '"load_facts,report" to the command line'
    ) == explain(wrapped).block(tmp_path / "run.jsonl")


def test_a_privilege_the_database_refused_is_a_matter_of_grants(spark: SparkSession) -> None:
    # MySQL's refusal: SQLSTATE 42000 (shared with every syntax error), told by its text
    with pytest.raises(Exception) as info:
        spark.sql(
            "SELECT raise_error('java.sql.SQLSyntaxErrorException: INSERT command denied to "
            "user ''etl''@''localhost'' for table ''facts''')"
        ).collect()
    failure = explain(info.value)
    assert failure.code == ExitCode.CONFIG
    assert failure.message.startswith("The database refused a privilege: ")
    assert "INSERT command denied to user" in failure.message
    assert "grant that user the privilege" in failure.todo
