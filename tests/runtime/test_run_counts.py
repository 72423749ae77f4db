"""The run's counts: reconciliation in words, the summary table, the plan operators that change
a count, the lineage of a sink (the end-to-end check is tests/pipelines/test_reconciliation.py)."""

from __future__ import annotations

from kedro.pipeline import node, pipeline

from spark_etl._sql_metrics import PlanNode, WriteJob
from spark_etl.runtime.run_counts import Reconciliation, _upstream_of
from spark_etl.runtime.run_hooks import summary_table


def test_a_reconciliation_that_adds_up_says_where_every_record_went() -> None:
    done = Reconciliation("landing", rows_in=23, written=20, rejected=1, skipped=2)
    assert done.adds_up and not done.unexplained
    assert done.line() == "landing: 23 in = 20 written + 1 rejected + 2 skipped"
    assert done.as_dict() == {
        "sink": "landing",
        "in": 23,
        "written": 20,
        "rejected": 1,
        "skipped": 2,
        "adds_up": True,
        "changes": [],
    }


def test_a_job_that_aggregates_is_not_held_to_adding_up() -> None:
    counts = Reconciliation("daily", 20_000, 155, 0, 0, ("aggregates",))
    assert not counts.adds_up and not counts.unexplained
    assert (
        counts.line() == "daily: 20,000 in -> 155 written (the job changes the count: aggregates)"
    )


def test_records_lost_by_a_job_that_changes_no_count_are_unexplained() -> None:
    lost = Reconciliation("copy", 1_000, 990, 5, 0)
    assert lost.unexplained
    assert lost.line() == "copy: 1,000 in, 990 written + 5 rejected: 5 record(s) unaccounted for"


def test_the_summary_table_lists_sources_then_sinks_aligned() -> None:
    table = summary_table(
        {"raw_events": {"records": 20_000}},
        {"events": {"records": 19_990, "write_mode": "overwrite", "duration_s": 1.53}},
        {"events": 10},
        [Reconciliation("events", 20_000, 19_990, 10, 0, ("filters",))],
    )
    assert table.splitlines()[1:] == [
        "  dataset       read  written  mode        time  rejected",
        "  raw_events  20,000        -  -              -         -",
        "  events           -   19,990  overwrite  1.5 s        10",
        "  counts: events: 20,000 in = 19,990 written + 10 rejected",
    ]
    assert summary_table({}, {}, {}, []) == ""


def test_only_a_filter_that_dropped_rows_changes_the_count() -> None:
    guard = PlanNode("Filter", "Filter CASE WHEN isnull(a) THEN raise_error(...)", 50, 50)
    dropping = PlanNode("Filter", "Filter (amount >= 0)", 45, 50)
    unknown = PlanNode("Filter", "Filter (amount >= 0)", 45, None)
    scan = PlanNode("Scan KafkaRelation(end=LatestOffsetRangeLimit)", "", 50)
    aggregate = PlanNode("HashAggregate", "HashAggregate(keys=[k])", 6)
    assert [n.count_change for n in (guard, dropping, unknown, scan, aggregate)] == [
        None,
        "filters",
        "filters",
        None,
        "aggregates",
    ]
    job = WriteJob((aggregate, dropping, guard, scan, PlanNode("Scan avro", "", 30)))
    assert job.count_changes == ["aggregates", "filters"]
    assert job.rows_in == 80
    assert [n.name for n in job.scans] == [scan.name, "Scan avro"]


def test_a_sink_s_lineage_is_every_dataset_it_is_made_from() -> None:
    def same(df: object, *_: object) -> object:
        return df

    graph = pipeline(
        [
            node(same, ["raw", "params:x"], "clean", name="a"),
            node(same, ["clean", "ref"], "joined", name="b"),
            node(same, "joined", "sink", name="c"),
        ]
    )
    upstream = _upstream_of(graph)
    assert upstream["sink"] == {"joined", "clean", "raw", "params:x", "ref"}
    assert upstream["clean"] == {"raw", "params:x"}
