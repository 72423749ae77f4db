"""The streaming capacity curve: what the streaming runs at each offered rate sustained.

``make bench-capacity`` runs ``python -m bench --only streaming`` at rising rates (50K, 100K,
200K, 400K events/s and beyond), each rate's pipeline and hand-written query under the same
producer, then this module reads their results (``bench/results/streaming_<n>k.json``) and
writes the curve: a Markdown table (``bench/results/capacity.md``, in ``docs/benchmarks.md``)
and a plot of sustained events/s and latency against the offered rate
(``docs/images/streaming_capacity.png``).

A rate is **kept up with** when the consumer sustained at least 95 % of what the producer
achieved, and **within the latency goal** when its p95 is at most 2 s. The producer's own rate is
reported too: where it falls short of the offered rate, the producer, not the consumer, is the
limit, and that rate says nothing of the pipeline.
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The latency goal of the first benchmark round (issue #23: "p95 <= 2 s").
P95_GOAL_S = 2.0
#: A consumer that sustains less than this share of what the producer achieved falls behind.
KEPT_UP = 0.95
#: A producer short of the offered rate by more than this share is the limit itself.
PRODUCER_SHORT = 0.97
_RATE_ROW = re.compile(r"^streaming_\d+k?$")


@dataclass(frozen=True)
class Side:
    """One consumer's run at one rate."""

    sustained: float
    p50: float
    p95: float
    p99: float
    batch_p50: float

    @classmethod
    def of(cls, run: dict[str, Any]) -> Side:
        """From a :class:`bench.streaming.StreamResult` as recorded."""
        latency = run["latency_s"]
        return cls(
            sustained=run["records"] / max(run["seconds"], 1e-9),
            p50=latency["p50"],
            p95=latency["p95"],
            p99=latency["p99"],
            batch_p50=run["batch_duration_s"]["p50"],
        )


@dataclass(frozen=True)
class Point:
    """One offered rate: what the producer achieved and what each consumer did."""

    offered: int
    produced: float
    pipeline: Side
    baseline: Side
    date: str

    @property
    def producer_limited(self) -> bool:
        """The producer fell short of the offered rate: the consumers were not offered it."""
        return self.produced < PRODUCER_SHORT * self.offered

    def kept_up(self, side: Side) -> bool:
        """``side`` consumed what the producer wrote as fast as it was written."""
        return side.sustained >= KEPT_UP * self.produced

    def within_goal(self, side: Side) -> bool:
        """``side`` kept up with p95 at most 2 s."""
        return self.kept_up(side) and side.p95 <= P95_GOAL_S

    @property
    def ratio(self) -> float:
        """The pipeline's sustained events/s over the hand-written query's."""
        return self.pipeline.sustained / max(self.baseline.sustained, 1e-9)


def points(results: list[dict[str, Any]]) -> list[Point]:
    """The curve's points, by offered rate, from the plain streaming rows (``streaming_<n>k``:
    the default trigger; the ``_t0``, ``_reference`` and other variants are left out)."""
    found = []
    for record in results:
        if not _RATE_ROW.match(record["name"]) or "streaming" not in record["extra"]:
            continue
        run, base = record["extra"]["streaming"], record["extra"]["baseline_streaming"]
        found.append(
            Point(
                offered=int(run["extra"]["rate"]),
                produced=float(run["produced_rps"]),
                pipeline=Side.of(run),
                baseline=Side.of(base),
                date=record["date"],
            )
        )
    return sorted(found, key=lambda p: p.offered)


def first_miss(curve: list[Point], pipeline: bool) -> int | None:
    """The lowest offered rate at which the pipeline (or the hand-written query) missed the
    goal, of the rates the producer achieved; ``None``: it met the goal at every such rate."""
    for point in curve:
        side = point.pipeline if pipeline else point.baseline
        if not point.producer_limited and not point.within_goal(side):
            return point.offered
    return None


def _latencies(side: Side) -> str:
    return f"{side.p50:.2f} / {side.p95:.2f} / {side.p99:.2f}"


def _mark(point: Point, side: Side) -> str:
    if point.within_goal(side):
        return ""
    return " (fell behind)" if not point.kept_up(side) else " (p95 > 2 s)"


def table(curve: list[Point]) -> str:
    """The curve as Markdown: one row per offered rate, and where each first missed the goal."""
    lines = [
        (
            "| offered events/s | producer achieved | spark-etl sustained | p50 / p95 / p99 s | "
            "hand-written sustained | p50 / p95 / p99 s | ratio |"
        ),
        "|---:|---:|---:|---|---:|---|---:|",
    ]
    for p in curve:
        producer = f"{p.produced:,.0f}" + (" (the limit)" if p.producer_limited else "")
        lines.append(
            f"| {p.offered:,} | {producer} | {p.pipeline.sustained:,.0f}"
            f"{_mark(p, p.pipeline)} | {_latencies(p.pipeline)} | "
            f"{p.baseline.sustained:,.0f}{_mark(p, p.baseline)} | {_latencies(p.baseline)} | "
            f"{p.ratio:.2f} |"
        )
    lines.append("")
    for label, pipeline in (("spark-etl", True), ("the hand-written query", False)):
        miss = first_miss(curve, pipeline)
        lines.append(
            f"- {label}: "
            + (
                f"first missed p95 <= 2 s (or fell behind) at {miss:,} events/s."
                if miss is not None
                else "met p95 <= 2 s at every rate the producer achieved."
            )
        )
    limited = [p.offered for p in curve if p.producer_limited]
    if limited:
        lines.append(
            f"- The producer fell short of the offered rate from {limited[0]:,} events/s on: "
            "those rows measure the producer, not the consumers."
        )
    dates = sorted({p.date for p in curve})
    lines.append(f"- Measured {dates[0]}" + (f" to {dates[-1]}." if len(dates) > 1 else "."))
    return "\n".join(lines) + "\n"


def plot(curve: list[Point], target: Path) -> None:
    """Sustained events/s and p50/p95 latency against the offered rate, both consumers."""
    import matplotlib  # noqa: PLC0415 - only the plot needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    offered = [p.offered / 1000 for p in curve]
    fig, (rate, latency) = plt.subplots(1, 2, figsize=(11, 4.2))
    rate.plot(offered, offered, ":", color="grey", label="offered")
    rate.plot(offered, [p.produced / 1000 for p in curve], "x--", color="grey", label="produced")
    for label, pick, style in (
        ("spark-etl", lambda p: p.pipeline, "o-"),
        ("hand-written", lambda p: p.baseline, "s-"),
    ):
        rate.plot(offered, [pick(p).sustained / 1000 for p in curve], style, label=label)
        line = latency.plot(offered, [pick(p).p95 for p in curve], style, label=f"{label} p95")
        latency.plot(
            offered,
            [pick(p).p50 for p in curve],
            style.replace("-", "--"),
            color=line[0].get_color(),
            alpha=0.6,
            label=f"{label} p50",
        )
    latency.axhline(P95_GOAL_S, color="red", linewidth=0.8, label="p95 goal (2 s)")
    rate.set(xlabel="offered (K events/s)", ylabel="sustained (K events/s)", title="Throughput")
    latency.set(xlabel="offered (K events/s)", ylabel="event to PostgreSQL (s)", title="Latency")
    latency.set_yscale("log")
    for ax in (rate, latency):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("streaming_kafka_pg on 2 cores, trigger 1 s")
    fig.tight_layout()
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, dpi=110)
    plt.close(fig)


def main() -> None:
    """Command line: the curve of the recorded streaming rows."""
    parser = argparse.ArgumentParser(prog="python -m bench.capacity", description=__doc__)
    parser.add_argument("--results", type=Path, default=Path("bench/results"))
    parser.add_argument("--plot", type=Path, default=Path("docs/images/streaming_capacity.png"))
    args = parser.parse_args()
    curve = points(
        [
            record
            for f in args.results.glob("streaming_*.json")
            if (record := json.loads(f.read_text()))["name"] == f.stem
        ]
    )
    if not curve:
        raise SystemExit(f"bench.capacity: no streaming_<n>k results in {args.results}")
    text = table(curve)
    (args.results / "capacity.md").write_text(text)
    plot(curve, args.plot)
    print(text)  # noqa: T201 - the command's report


if __name__ == "__main__":
    main()
