"""The benchmarks still work: each runs once at a tiny size (no timing is asserted: ``make bench``
measures, CI only proves the code paths). The small micro-batch rows (``streaming_small_batches``:
three more streaming runs of the code path ``streaming`` runs here) are left to ``make bench``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bench.run import BENCHMARKS, recorded, run, table
from bench.streaming import StreamPlan

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NAMES = {
    "batch_simple",
    "batch_simple_checks",
    "batch_simple_s3",
    "batch_simple_s3_checks",
    "batch_complex",
    "upsert_pg",
    "upsert_mysql",
    "upsert_delta",
    "scd2_pg",
    "streaming_2k",
    "streaming_2k_reference",
    "streaming_2k_realtime",
}
#: Every benchmark of ``bench.run`` but the small micro-batches.
SMOKED = set(BENCHMARKS) - {"streaming_small_batches"}


def test_every_benchmark_runs_and_reports(
    tmp_path: Path, services: dict[str, str], spark: object
) -> None:
    results = run(
        scale=0.0001,
        only=SMOKED,
        out=tmp_path,
        streams=(StreamPlan(rate=2_000, seconds=4, warmup_s=2),),
        sizes={"events": 1_500},  # as the batch scale curve sets its sizes
    )
    assert {r["name"] for r in results} == NAMES
    for name in NAMES:
        record = json.loads((tmp_path / f"{name}.json").read_text())
        assert record["records"] >= 1_000
        assert record["framework_rps"] > 0 and record["baseline_rps"] > 0
        assert record["machine"]["cores"] >= 1 and record["driver_peak_rss_mib"] > 0
        assert record["spill_disk_mib"] >= 0 and record["spill_memory_mib"] >= 0
    assert (tmp_path / "README.md").read_text() == table(recorded(tmp_path))  # in table order
    assert "| upsert_pg | 1,000 |" in table(results)
    upsert = json.loads((tmp_path / "upsert_pg.json").read_text())["extra"]
    # every upsert (MERGE, ON CONFLICT, batched inserts, the baseline) left 500 old + 500
    # updated + 500 new rows
    assert upsert["rows_after"] == [1_500] * 4
    assert upsert["on_conflict_ratio"] > 0 and upsert["inserts_ratio"] > 0
    upsert = json.loads((tmp_path / "upsert_mysql.json").read_text())["extra"]
    assert upsert["rows_after"] == [1_500] * 3 and upsert["inserts_ratio"] > 0
    assert "the default `INSERT ... ON CONFLICT`: upsert_pg " in table(results)
    assert "(the defaults): upsert_pg " in table(results)
    delta = json.loads((tmp_path / "upsert_delta.json").read_text())["extra"]
    # both merges left 500 old + 500 updated + 500 new rows
    assert delta["rows_after"] == {"framework": 1_500, "baseline": 1_500}
    scd2 = json.loads((tmp_path / "scd2_pg.json").read_text())["extra"]
    # both loads closed the 100 changed versions and opened 100 new ones: 1,100, 1,000 current
    assert scd2["versions_after"] == {"framework": [1_100, 1_000], "baseline": [1_100, 1_000]}
    simple = json.loads((tmp_path / "batch_simple.json").read_text())
    assert (
        simple["records"]
        == json.loads((tmp_path / "batch_complex.json").read_text())["records"]
        == 1_500
    )  # the events given, not the scale's
    simple = simple["extra"]
    assert simple["cpu_s"] > 0 and simple["cpu_ratio"] > 0
    assert set(simple["spill_disk_mib"]) == {"framework", "baseline"}
    assert "CPU-time ratios of the same runs" in table(results)
    stream = json.loads((tmp_path / "streaming_2k.json").read_text())["extra"]
    for run_ in (stream["streaming"], stream["baseline_streaming"]):
        # every record after the warm-up reached PostgreSQL, with a measured latency
        assert run_["not_visible"] == 0 and run_["records"] >= 4_000
        assert 0 < run_["latency_s"]["p50"] <= run_["latency_s"]["p99"]
    assert "| streaming_2k | 2,000 |" in table(results)
    reference = json.loads((tmp_path / "streaming_2k_reference.json").read_text())["extra"]
    # with the reference data cached and without, every event found its user's segment
    assert reference["events_counted"] == reference["events_produced"]
    assert reference["events_produced"]["cached"] >= 6_000
    for run_ in (reference["streaming"], reference["baseline_streaming"]):
        assert run_["not_visible"] == 0 and run_["records"] >= 4_000
    realtime = json.loads((tmp_path / "streaming_2k_realtime.json").read_text())["extra"]
    for run_ in (realtime["streaming"], realtime["baseline_streaming"]):
        # in Real-Time Mode and in micro-batches, every event reached the output topic once
        assert run_["not_visible"] == 0 and run_["extra"]["duplicates"] == 0
        assert run_["extra"]["written"] == run_["extra"]["produced"] >= 8_000
        assert 0 < run_["latency_s"]["p50"] <= run_["latency_s"]["p99"]
    assert realtime["streaming"]["extra"]["trigger"] == "real-time"


def test_a_partial_run_keeps_the_other_rows_of_the_table(tmp_path: Path) -> None:
    results = Path(__file__).resolve().parents[2] / "bench" / "results"
    for source in results.glob("*.json"):
        (tmp_path / source.name).write_text(source.read_text())
    rerun = json.loads((tmp_path / "upsert_pg.json").read_text())
    rerun.update(date="2026-12-03", framework_rps=123_456.0)
    (tmp_path / "upsert_pg.json").write_text(json.dumps(rerun))

    rows = recorded(tmp_path)
    names = [r["name"] for r in rows]
    # every benchmark once, in the order they run; the renamed variant's file is not a row
    assert names[:7] == [
        "batch_simple",
        "batch_simple_checks",
        "batch_simple_s3",
        "batch_simple_s3_checks",
        "batch_complex",
        "upsert_pg",
        "upsert_mysql",
    ]
    assert names[7:] == [
        "upsert_delta",
        "scd2_pg",
        "streaming_50k",
        "streaming_50k_realtime",
        "streaming_100k",
        "streaming_100k_reference",  # the streaming family by rate, then by name
        "streaming_200k",  # the capacity curve's
        "streaming_400k",
        "streaming_600k",
    ]
    text = table(rows)
    assert "| upsert_pg | 1,000,000 | 123,456 |" in text
    assert text.startswith("Run 2026-11-30 to 2026-12-03 at scale 1.0")


def test_streaming_measures_after_one_warm_up_run_of_each_query(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Neither query's numbers include the session's JIT warm-up: one unmeasured, shorter run of
    each comes first, at the first plan's rate (stand-in for run_stream: the real one is covered by
    the test above)."""
    import bench.run as bench_run
    from bench.streaming import StreamResult

    calls: list[tuple[int, float, float, bool]] = []

    def fake_run_stream(spark, env, work, plan, *, framework):  # type: ignore[no-untyped-def]
        calls.append((plan.rate, plan.seconds, plan.warmup_s, framework))
        return StreamResult(10, 1.0, 10.0, {}, {}, 1, {}, 0)

    monkeypatch.setattr(bench_run, "run_stream", fake_run_stream)
    plans = (StreamPlan(50_000, seconds=60, warmup_s=30), StreamPlan(100_000, seconds=60))
    results = bench_run.bench_streams(None, {}, tmp_path, plans)  # type: ignore[arg-type]
    assert calls == [
        (50_000, 30.0, 0.0, True),
        (50_000, 30.0, 0.0, False),
        (50_000, 60.0, 30.0, True),
        (50_000, 60.0, 30.0, False),
        (100_000, 60.0, 30.0, True),
        (100_000, 60.0, 30.0, False),
    ]
    assert [r.name for r in results] == ["streaming_50k", "streaming_100k"]


def test_a_spark_setting_without_a_value_is_refused_before_anything_runs() -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "bench", "--spark-conf", "oops"],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == (
        "python -m bench: error: --spark-conf takes KEY=VALUE "
        "(spark.sql.shuffle.partitions=2); got 'oops'"
    )
