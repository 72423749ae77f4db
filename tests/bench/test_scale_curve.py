"""The batch scale curve's table from recorded rows (no Spark: the rows are written here as
``python -m bench`` records them), and its command's refusal without results."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.scale import points, table

ROOT = Path(__file__).resolve().parents[2]


def _write(out: Path, name: str, events: int, rps: tuple[float, float], spill: float) -> None:
    folder = out / str(events)
    folder.mkdir(parents=True, exist_ok=True)
    record = {
        "name": name,
        "records": events,
        "framework_rps": rps[0],
        "baseline_rps": rps[1],
        "driver_peak_rss_mib": 2048.0,
        "extra": {"spill_disk_mib": {"framework": spill, "baseline": spill / 2}},
    }
    (folder / f"{name}.json").write_text(json.dumps(record))


def test_the_curve_says_where_cost_per_event_stops_being_linear(tmp_path: Path) -> None:
    _write(tmp_path, "batch_simple", 1_000_000, (500_000.0, 500_000.0), 0.0)
    _write(tmp_path, "batch_simple", 10_000_000, (1_000_000.0, 1_000_000.0), 0.0)
    _write(tmp_path, "batch_simple", 30_000_000, (1_050_000.0, 1_000_000.0), 0.0)
    _write(tmp_path, "batch_complex", 1_000_000, (800_000.0, 800_000.0), 0.0)
    _write(tmp_path, "batch_complex", 10_000_000, (800_000.0, 790_000.0), 0.0)
    _write(tmp_path, "batch_complex", 30_000_000, (400_000.0, 780_000.0), 900.0)
    (tmp_path / "10000000" / "batch_simple_checks.json").write_text("{}")  # not a curve row

    curve = points(tmp_path)
    assert [(p.name, p.events) for p in curve] == [
        ("batch_simple", 1_000_000),
        ("batch_complex", 1_000_000),
        ("batch_simple", 10_000_000),
        ("batch_complex", 10_000_000),
        ("batch_simple", 30_000_000),
        ("batch_complex", 30_000_000),
    ]
    text = table(curve)
    row = "| batch_complex | 30,000,000 | 400,000 | 780,000 | 0.51 | 2.50 / 1.28 | 2,048 | "
    assert row in text
    assert "| 900 / 450 |" in text
    notes = text.split("\n\n")[1].splitlines()
    assert notes == [
        "- batch_simple, spark-etl: 1M -> 10M: 50% cheaper per event (2.00 -> 1.00 s per M).",
        "- batch_simple, hand-written: 1M -> 10M: 50% cheaper per event (2.00 -> 1.00 s per M).",
        "- batch_complex, spark-etl: 10M -> 30M: 100% dearer per event (1.25 -> 2.50 s per M).",
        "- batch_complex, hand-written: linear from 1M to 30M (within 15 %).",
    ]


def test_the_report_without_results_says_where_it_looked(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.scale", "--report-only", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.strip() == f"bench.scale: no results under {tmp_path}/<events>/"
