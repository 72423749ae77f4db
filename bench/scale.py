"""The batch scale curve: batch_simple and batch_complex at 1M, 10M and 30M events.

    python -m bench.scale [--events 1000000,10000000,30000000]      (make bench-scale)

Each size runs in a process of its own, as a user's job would (``python -m bench --only
batch_simple,batch_complex --events N --out bench/results/scale/<N>``: a fresh Spark session, the
same rounds and baselines as ``make bench``), then this module reads their results and writes the
curve (``bench/results/scale.md``, quoted in ``docs/benchmarks.md``): at each size, records/s of
spark-etl and of the hand-written job, their ratio, seconds per million events, the benchmark's
peak driver RSS (this process and Spark's JVM, both sides' runs together), and the MiB each side
spilled to disk.

Where cost stops growing linearly: between two sizes, a side's cost is **linear** when its seconds
per million events changed by at most 15 %; more than that is a change of regime, named in the
table's notes (cheaper per event: fixed costs amortized; dearer: spill, memory pressure).
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SIZES = (1_000_000, 10_000_000, 30_000_000)
BENCHES = ("batch_simple", "batch_complex")
#: A change of seconds per million events above this share between two sizes is not linear.
LINEAR_WITHIN = 0.15


@dataclass(frozen=True)
class Point:
    """One benchmark at one size."""

    name: str
    events: int
    framework_rps: float
    baseline_rps: float
    peak_rss_mib: float
    spill_mib: dict[str, float]

    @classmethod
    def of(cls, record: dict[str, Any]) -> Point:
        """From a result ``bench.run`` recorded."""
        spill = record["extra"].get("spill_disk_mib", {"framework": 0.0, "baseline": 0.0})
        return cls(
            record["name"],
            int(record["records"]),
            float(record["framework_rps"]),
            float(record["baseline_rps"]),
            float(record["driver_peak_rss_mib"]),
            spill,
        )

    def seconds_per_million(self, side: str) -> float:
        """Seconds per million events of ``side`` (``framework`` or ``baseline``)."""
        rps = self.framework_rps if side == "framework" else self.baseline_rps
        return 1_000_000 / rps


def run_sizes(sizes: tuple[int, ...], out: Path) -> None:
    """``python -m bench`` for both benchmarks at each size, each in its own process."""
    for events in sizes:
        command = [
            sys.executable,
            "-m",
            "bench",
            "--only",
            ",".join(BENCHES),
            "--events",
            str(events),
            "--out",
            str(out / str(events)),
        ]
        subprocess.run(command, cwd=ROOT, check=True)


def points(out: Path) -> list[Point]:
    """The recorded results under ``out/<events>/`` (the ``*_checks`` rows left out)."""
    found = []
    for size in sorted(out.iterdir(), key=lambda p: int(p.name) if p.name.isdigit() else 0):
        for name in BENCHES:
            result = size / f"{name}.json"
            if size.is_dir() and result.exists():
                found.append(Point.of(json.loads(result.read_text())))
    return found


def regimes(curve: list[Point]) -> list[str]:
    """Where each benchmark's cost per event, per side, changed by more than 15 % from one size
    to the next; or that it stayed linear."""
    notes = []
    for name in BENCHES:
        runs = sorted((p for p in curve if p.name == name), key=lambda p: p.events)
        for side, label in (("framework", "spark-etl"), ("baseline", "hand-written")):
            changes = []
            for small, large in itertools.pairwise(runs):
                before, after = small.seconds_per_million(side), large.seconds_per_million(side)
                change = after / before - 1
                if abs(change) > LINEAR_WITHIN:
                    how = "cheaper" if change < 0 else "dearer"
                    changes.append(
                        f"{_m(small.events)} -> {_m(large.events)}: {abs(change):.0%} {how} per "
                        f"event ({before:.2f} -> {after:.2f} s per M)"
                    )
            if len(runs) > 1:
                span = f"{_m(runs[0].events)} to {_m(runs[-1].events)}"
                notes.append(
                    f"- {name}, {label}: "
                    + ("; ".join(changes) if changes else f"linear from {span} (within 15 %)")
                    + "."
                )
    return notes


def _m(events: int) -> str:
    return f"{events / 1_000_000:g}M"


def table(curve: list[Point]) -> str:
    """The curve as Markdown: a row per benchmark and size, then where cost stopped being
    linear."""
    lines = [
        (
            "| benchmark | events | spark-etl rec/s | hand-written rec/s | ratio | s per M events "
            "(spark-etl / hand-written) | peak driver RSS MiB | spill to disk MiB "
            "(spark-etl / hand-written) |"
        ),
        "|---|---:|---:|---:|---:|---|---:|---|",
    ]
    for p in sorted(curve, key=lambda p: (BENCHES.index(p.name), p.events)):
        lines.append(
            f"| {p.name} | {p.events:,} | {p.framework_rps:,.0f} | {p.baseline_rps:,.0f} | "
            f"{p.framework_rps / p.baseline_rps:.2f} | {p.seconds_per_million('framework'):.2f} / "
            f"{p.seconds_per_million('baseline'):.2f} | {p.peak_rss_mib:,.0f} | "
            f"{p.spill_mib['framework']:,.0f} / {p.spill_mib['baseline']:,.0f} |"
        )
    return "\n".join([*lines, "", *regimes(curve)]) + "\n"


def main() -> None:
    """Command line: run the sizes (unless ``--report-only``), then write the curve."""
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    parser.add_argument("--events", default=",".join(str(n) for n in SIZES))
    parser.add_argument("--out", type=Path, default=Path("bench/results/scale"))
    parser.add_argument("--report-only", action="store_true", help="only write the curve")
    args = parser.parse_args()
    if not args.report_only:
        run_sizes(tuple(int(n) for n in args.events.split(",") if n), args.out)
    curve = points(args.out)
    if not curve:
        raise SystemExit(f"bench.scale: no results under {args.out}/<events>/")
    text = table(curve)
    (args.out.parent / "scale.md").write_text(text)
    print(text)  # noqa: T201 - the command's report


if __name__ == "__main__":
    main()
