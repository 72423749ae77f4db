"""The capacity curve's table and plot from recorded streaming rows (no Spark: the rows are
written here as ``python -m bench`` records them)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.capacity import first_miss, points, table

ROOT = Path(__file__).resolve().parents[2]


def _run(records: int, seconds: float, p95: float) -> dict[str, Any]:
    return {
        "records": records,
        "seconds": seconds,
        "produced_rps": 0.0,
        "latency_s": {"p50": p95 / 2, "p95": p95, "p99": p95 * 1.2, "max": p95 * 2},
        "batch_duration_s": {"p50": 0.5, "max": 1.0},
        "extra": {},
    }


def _record(
    rate: int, produced: float, pipeline: tuple[int, float], baseline: tuple[int, float]
) -> dict[str, Any]:
    """A ``streaming_<n>k`` row: each consumer's (records over 60 s, p95)."""
    run, base = _run(pipeline[0], 60.0, pipeline[1]), _run(baseline[0], 60.0, baseline[1])
    for side in (run, base):
        side["produced_rps"] = produced
        side["extra"] = {"rate": rate}
    return {
        "name": f"streaming_{rate // 1000}k",
        "date": "2026-12-03",
        "extra": {"streaming": run, "baseline_streaming": base},
    }


RECORDS = [
    _record(400_000, 300_000.0, (17_400_000, 2.5), (17_700_000, 2.2)),  # producer short
    _record(100_000, 100_000.0, (6_000_000, 1.5), (6_000_000, 1.4)),
    _record(200_000, 199_000.0, (10_200_000, 6.0), (11_900_000, 1.8)),  # spark-etl fell behind
    {"name": "streaming_100k_reference", "date": "2026-12-03", "extra": {}},
    {"name": "upsert_pg", "date": "2026-12-03", "extra": {}},
]


def test_the_curve_is_the_plain_rate_rows_by_offered_rate() -> None:
    curve = points(RECORDS)
    assert [p.offered for p in curve] == [100_000, 200_000, 400_000]
    assert [p.producer_limited for p in curve] == [False, False, True]
    assert curve[1].pipeline.sustained == 170_000
    assert not curve[1].kept_up(curve[1].pipeline) and curve[1].kept_up(curve[1].baseline)
    assert round(curve[1].ratio, 3) == round(170_000 / (11_900_000 / 60), 3)


def test_the_first_miss_leaves_out_rates_the_producer_did_not_reach() -> None:
    curve = points(RECORDS)
    assert first_miss(curve, pipeline=True) == 200_000
    # the hand-written query's 2.2 s at 400K does not count: the producer made 300K there
    assert first_miss(curve, pipeline=False) is None
    text = table(curve)
    assert "| 200,000 | 199,000 | 170,000 (fell behind) | 3.00 / 6.00 / 7.20 |" in text
    assert "| 400,000 | 300,000 (the limit) |" in text
    assert "- spark-etl: first missed p95 <= 2 s (or fell behind) at 200,000 events/s." in text
    assert "- the hand-written query: met p95 <= 2 s at every rate the producer achieved." in text
    assert "producer fell short of the offered rate from 400,000 events/s on" in text


def test_the_command_writes_the_table_and_the_plot(tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    for record in RECORDS:
        (results / f"{record['name']}.json").write_text(json.dumps(record))
    picture = tmp_path / "capacity.png"
    done = subprocess.run(
        [sys.executable, "-m", "bench.capacity", "--results", str(results), "--plot", str(picture)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert (results / "capacity.md").read_text() == table(points(RECORDS))
    assert done.stdout.startswith("| offered events/s |")
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_command_says_when_there_is_nothing_to_plot(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.capacity", "--results", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert f"bench.capacity: no streaming_<n>k results in {tmp_path}" in done.stderr
