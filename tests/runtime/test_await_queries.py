"""``await_queries``: waits for this run's streaming queries only."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from spark_etl.datasets._streaming import describe_trigger, parse_settings
from spark_etl.runtime.streaming import await_queries


def test_a_query_that_failed_before_the_run_does_not_fail_it(
    spark: SparkSession, tmp_path: Path
) -> None:
    """A query of the session that failed earlier (a notebook's, a previous run's) stays in
    Spark's record of terminated queries; the run must not take its error for its own."""
    earlier = (
        spark.readStream.format("rate")
        .load()
        .select(F.raise_error(F.lit("an earlier failure")).alias("x"))
        .writeStream.format("noop")
        .option("checkpointLocation", str(tmp_path / "earlier"))
        .start()
    )
    with pytest.raises(Exception, match="an earlier failure"):
        earlier.awaitTermination(120)

    source = tmp_path / "in"
    source.mkdir()
    (source / "rows.json").write_text('{"a": 1}\n{"a": 2}\n')
    rows: list[int] = []
    this_run = (
        spark.readStream.schema("a long")
        .json(str(source))
        .writeStream.foreachBatch(lambda batch, _: rows.extend(r.a for r in batch.collect()))
        .trigger(availableNow=True)
        .option("checkpointLocation", str(tmp_path / "now"))
        .start()
    )
    await_queries(spark)
    assert not this_run.isActive and this_run.exception() is None
    assert sorted(rows) == [1, 2]


@pytest.mark.parametrize(
    ("block", "said"),
    [
        (
            {},
            (
                "a micro-batch every 5 seconds (the default trigger: set streaming.trigger in "
                "the catalog entry)"
            ),
        ),
        ({"trigger": "1 second"}, "a micro-batch every 1 second"),
        ({"trigger": {"processingTime": "5 seconds"}}, "a micro-batch every 5 seconds"),
        ({"trigger": "available-now"}, "then it stops (available-now)"),
    ],
)
def test_the_start_line_says_the_trigger_and_whether_it_is_the_default(
    block: dict[str, object], said: str
) -> None:
    settings = parse_settings({"checkpoint_location": "/tmp/c", **block}, "KafkaDataset")
    assert settings is not None
    described = describe_trigger(settings)
    assert described.endswith(said)
    assert ("default" in described) == (not block)
