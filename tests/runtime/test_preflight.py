"""The check of a whole run before its first write: each node on empty data of the right shape."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import node, pipeline
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from spark_etl.datasets import JDBCDataset, KafkaDataset, S3Dataset
from spark_etl.exceptions import ConfigError
from spark_etl.runtime.preflight import PipelineCheckError, Problem, check_run
from spark_etl.runtime.preflight_hooks import PreflightHooks
from spark_etl.transforms import apply


def extract(raw: DataFrame) -> DataFrame:
    return raw.withColumn("amount", F.col("amount").cast("double"))


def summarise(events: DataFrame, params: dict[str, Any]) -> DataFrame:
    return apply(events, "aggregate", params)


def needs_rows(events: DataFrame) -> DataFrame:
    if events.count() == 0:  # a node may demand data: empty data is no mistake of the user's
        raise ValueError("no events")
    return events


SUMMARY = {
    "group_by": ["user_id"],
    "aggregations": [{"function": "sum", "column": "amount", "alias": "total_amount"}],
}


@pytest.fixture
def raw(spark: SparkSession, tmp_path: Path) -> S3Dataset:
    path = tmp_path / "raw"
    spark.createDataFrame([("u1", "1.5")], "user_id string, amount string").write.parquet(str(path))
    return S3Dataset(path=str(path), file_format="parquet")


def catalog_of(source: S3Dataset, tmp_path: Path, **datasets: Any) -> DataCatalog:
    return DataCatalog(
        {
            "raw": source,
            "events": S3Dataset(path=str(tmp_path / "events"), write_mode="overwrite"),
            "summary": S3Dataset(path=str(tmp_path / "summary"), write_mode="overwrite"),
            "params:summary": MemoryDataset(SUMMARY),
            **datasets,
        }
    )


TWO_NODES = pipeline(
    [
        node(extract, "raw", "events", name="extract"),
        node(summarise, ["events", "params:summary"], "summary", name="summarise"),
    ]
)


def test_a_good_run_has_no_problem_and_writes_nothing(
    spark: SparkSession, raw: S3Dataset, tmp_path: Path
) -> None:
    report = check_run(TWO_NODES, catalog_of(raw, tmp_path))
    assert (report.nodes_checked, report.nodes_skipped, report.problems) == (2, 0, [])
    assert not (tmp_path / "events").exists() and not (tmp_path / "summary").exists()


def test_a_later_node_s_typo_and_a_sink_s_key_are_all_reported(
    spark: SparkSession, raw: S3Dataset, tmp_path: Path
) -> None:
    typo = {**SUMMARY, "aggregations": [{"function": "sum", "column": "amout", "alias": "t"}]}
    catalog = catalog_of(
        raw,
        tmp_path,
        **{
            "params:summary": MemoryDataset(typo),
            "events": JDBCDataset(
                url="jdbc:postgresql://127.0.0.1:1/none",
                table="events",
                write_mode="upsert",
                key_columns=["event_idd"],
            ),
        },
    )
    report = check_run(TWO_NODES, catalog)
    problems = [str(p) for p in report.problems]
    assert problems[0].startswith(
        "dataset 'events': the data to save lacks the column(s) ['event_idd'] that its catalog "
        "entry names (it has: user_id, amount)."
    )
    assert problems[1].startswith("node 'summarise': Transform 'aggregate'")
    assert "'amout'" in problems[1] and "Did you mean 'amount'?" in problems[1]
    assert len(problems) == 2


def test_a_sink_s_contract_and_spark_s_own_analysis(
    spark: SparkSession, raw: S3Dataset, tmp_path: Path
) -> None:
    def bad_sql(events: DataFrame) -> DataFrame:
        return events.selectExpr("user_id", "amout * 2 AS double_amount")

    contracted = S3Dataset(path=str(tmp_path / "s"), metadata={"schema": "user_summary"})
    catalog = catalog_of(raw, tmp_path, summary=contracted, doubled=MemoryDataset())
    checked = pipeline([*TWO_NODES.nodes, node(bad_sql, "events", "doubled", name="bad_sql")])
    problems = check_run(checked, catalog).problems
    by_where = {p.where: p.message for p in problems}
    assert "UNRESOLVED_COLUMN" in by_where["node 'bad_sql'"]
    assert "amout" in by_where["node 'bad_sql'"]
    assert by_where["dataset 'summary'"].startswith(
        "Dataset 'summary' does not meet contract 'user_summary'"
    )
    assert "field 'total_events' is missing" in by_where["dataset 'summary'"]


def unique_events(events: DataFrame) -> DataFrame:
    return events.dropDuplicates(["event_id"])


def publish(events: DataFrame) -> DataFrame:
    return events.select("event_id", "user_id", "event_type", "timestamp", "properties", "amount")


REAL_TIME = {"checkpoint_location": "/tmp/unused", "trigger": "real-time"}


@pytest.mark.parametrize("stream", [True, False])
def test_a_stream_s_step_its_real_time_sinks_cannot_run_is_a_problem(
    spark: SparkSession, tmp_path: Path, stream: bool
) -> None:
    """A batch run of the same pipeline is no problem: Real-Time Mode is for streams only."""
    kafka = {"bootstrap_servers": "127.0.0.1:1", "metadata": {"schema": "user_event"}}  # unasked
    catalog = DataCatalog(
        {
            "events": KafkaDataset(**kafka, topic="events", stream=stream),
            "unique": MemoryDataset(),
            "published": KafkaDataset(**kafka, topic="unique", streaming=REAL_TIME),
            "archived": S3Dataset(path=str(tmp_path / "unique"), streaming=REAL_TIME),
        }
    )
    deduplicating = pipeline(
        [
            node(unique_events, "events", "unique", name="unique_events"),
            node(publish, "unique", "published", name="publish"),
            node(publish, "unique", "archived", name="archive"),
        ]
    )
    problems = [str(p) for p in check_run(deduplicating, catalog).problems]
    if not stream:
        assert problems == []
        return
    assert len(problems) == 2
    published, archived = sorted(problems, reverse=True)
    # the step two nodes upstream of the sink, found through the node in between
    assert published.startswith(
        "dataset 'published': KafkaDataset 'unique': trigger: real-time cannot run this "
        "pipeline; Real-Time Mode runs stateless steps only"
    )
    assert "has a de-duplication (dedup, dropDuplicates): Deduplicate [event_id]. " in published
    assert archived.startswith(
        f"dataset 'archived': S3Dataset '{tmp_path / 'unique'}': trigger: real-time is for "
        "KafkaDataset sinks only: this sink writes with Spark's file sink"
    )


def test_a_missing_source_is_a_problem_and_a_node_that_needs_rows_is_not(
    spark: SparkSession, raw: S3Dataset, tmp_path: Path
) -> None:
    catalog = catalog_of(raw, tmp_path, raw=S3Dataset(path=str(tmp_path / "nothing")))
    report = check_run(TWO_NODES, catalog)
    (problem,) = report.problems
    assert problem.where == "dataset 'raw'" and "there is nothing to read at" in problem.message
    assert (report.nodes_checked, report.nodes_skipped) == (0, 2)  # both wait for raw

    demanding = pipeline([node(needs_rows, "raw", "events", name="needs_rows")])
    report = check_run(demanding, catalog_of(raw, tmp_path))
    assert (report.problems, report.nodes_skipped) == ([], 1)


def test_the_hook_stops_the_run_with_every_problem_or_can_be_turned_off(
    spark: SparkSession, raw: S3Dataset, tmp_path: Path
) -> None:
    typo = {**SUMMARY, "group_by": ["user"]}
    catalog = catalog_of(raw, tmp_path, **{"params:summary": MemoryDataset(typo)})
    hooks = PreflightHooks()
    hooks.after_context_created(SimpleNamespace(config_loader={"runtime": {}}))  # type: ignore[arg-type]
    with pytest.raises(PipelineCheckError) as info:
        hooks.before_pipeline_run({"pipeline_names": ["demo"]}, TWO_NODES, catalog)
    assert str(info.value).splitlines()[0] == (
        "Pipeline 'demo' would fail; nothing was run (1 problem found):"
    )
    assert str(info.value).splitlines()[1].startswith("  - node 'summarise': ")

    hooks.after_context_created(
        SimpleNamespace(config_loader={"runtime": {"preflight": False}})  # type: ignore[arg-type]
    )
    hooks.before_pipeline_run({"pipeline_names": ["demo"]}, TWO_NODES, catalog)  # not checked
    with pytest.raises(ConfigError, match="preflight must be true or false, not 'no'"):
        hooks.after_context_created(
            SimpleNamespace(config_loader={"runtime": {"preflight": "no"}})  # type: ignore[arg-type]
        )
    message = str(PipelineCheckError("p", [Problem("a", "x"), Problem("b", "y")]))
    assert message.splitlines() == [
        "Pipeline 'p' would fail; nothing was run (2 problems found):",
        "  - a: x",
        "  - b: y",
    ]
