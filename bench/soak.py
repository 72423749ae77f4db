"""The soak: ``streaming_kafka_pg`` for 30 minutes at 100K events/s (``make soak``; not in CI).

    python -m bench.soak [--minutes 30] [--rate 100000]

One long run of the streaming benchmark (``bench.streaming.run_stream``): the producer process at a
fixed rate, the example's pipeline through Kedro, a minute of warm-up, then ``--minutes``
measured. While the producer writes, a sampler reads six times a minute the driver's RSS (this
process and Spark's JVM), the consumer's lag (records the topic holds that no batch has read yet)
and the size of the query's checkpoint folder; at each minute's last sample it runs one full
collection of the JVM (``System.gc()``, as Spark's own ContextCleaner does every 30 minutes) and
reads the heap left in use. The progress events give each batch's duration and the state store
(rows and memory over the query's stateful operators), and the topic read back afterwards gives
each minute's events and their p50/p95/p99 latency to PostgreSQL (``bench.streaming.measure``, by
event time).

Each series gets a least-squares slope; it **grows beyond noise** when its fitted growth over
the measured minutes is more than twice the standard deviation of its residuals and more than
5 % of its mean. The goal (issue #23): no series grows beyond noise, and the totals are exact:
the topic holds every event the producer says it delivered, and the PostgreSQL windows count each
of them once.

Writes ``bench/results/soak/soak.json``, ``bench/results/soak/soak.md`` (quoted in
``docs/benchmarks.md``) and the plot ``docs/images/soak.png``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

from bench.run import bench_session, machine, status_kib
from bench.streaming import (
    Batch,
    ProgressLog,
    StreamPipeline,
    StreamPlan,
    StreamResult,
    counted_events,
    end_offsets,
    run_stream,
)

#: Samples per period (the last one with a full collection of the JVM's heap).
SAMPLES_PER_PERIOD = 6
#: A series grows beyond noise when its fitted growth exceeds this many residual deviations...
NOISE_DEVIATIONS = 2.0
#: ... and this share of its mean.
RELEVANT_SHARE = 0.05
#: The series the soak reports per period, with their units.
SERIES = {
    "driver_rss_mib": "MiB",
    "heap_after_gc_mib": "MiB",
    "state_rows": "rows",
    "state_mib": "MiB",
    "checkpoint_mib": "MiB",
    "lag_max": "records",
    "batch_p50_s": "s",
    "latency_p95_s": "s",
}


@dataclass
class Sample:
    """One reading of the sampler: ``period`` is the measured period it falls in (negative in
    the warm-up)."""

    period: int
    at_ms: int
    rss_mib: float
    lag: int
    checkpoint_bytes: int
    heap_after_gc_mib: float | None = None


@dataclass
class Sampler:
    """Reads the driver, the lag and the checkpoint while the producer writes (a
    :data:`bench.streaming.Watch`)."""

    spark: SparkSession
    bootstrap: str
    checkpoints: Path
    warmup_s: float
    period_s: float
    samples: list[Sample] = field(default_factory=list)
    log: ProgressLog | None = None
    started_ms: int = 0
    failures: list[BaseException] = field(default_factory=list)

    @property
    def sample_s(self) -> float:
        """Seconds between samples."""
        return self.period_s / SAMPLES_PER_PERIOD

    def period_of(self, number: int) -> int:
        """The period sample ``number`` falls in: samples are taken half a sample interval
        into each interval, so that none falls on a period's boundary."""
        return math.floor(((number + 0.5) * self.sample_s - self.warmup_s) / self.period_s)

    @contextlib.contextmanager
    def watching(self, log: ProgressLog, started_ms: int) -> Iterator[None]:
        """Sample on a thread from ``started_ms`` (the producer's start) until the block ends."""
        self.log, self.started_ms = log, started_ms
        stop = threading.Event()
        thread = threading.Thread(target=self._run, args=(started_ms, stop), daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(60)
        if self.failures:
            raise RuntimeError(f"the soak's sampler failed: {self.failures[0]!r}")

    def _run(self, started_ms: int, stop: threading.Event) -> None:
        jvm = self.spark._jvm
        assert jvm is not None and self.log is not None
        pids = (os.getpid(), int(jvm.ProcessHandle.current().pid()))
        number = 0
        while True:
            due_ms = started_ms + (number + 0.5) * self.sample_s * 1000
            if stop.wait(max(0.0, due_ms / 1000 - time.time())):
                return
            try:
                consumed = sum(self.log.consumed.values())
                sample = Sample(
                    period=self.period_of(number),
                    at_ms=int(time.time() * 1000),
                    rss_mib=round(status_kib(pids, "VmRSS") / 1024, 1),
                    lag=max(0, sum(end_offsets(self.spark, self.bootstrap).values()) - consumed),
                    checkpoint_bytes=folder_bytes(self.checkpoints),
                )
                if self.period_of(number + 1) != sample.period:  # the period's last sample
                    jvm.java.lang.System.gc()
                    runtime = jvm.java.lang.Runtime.getRuntime()
                    used = runtime.totalMemory() - runtime.freeMemory()
                    sample.heap_after_gc_mib = round(used / 2**20, 1)
                self.samples.append(sample)
            except Exception as exc:  # reported when the run ends
                self.failures.append(exc)
                return
            number += 1


def folder_bytes(folder: Path) -> int:
    """The bytes of the files under ``folder`` (files the query deletes meanwhile are skipped)."""
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(FileNotFoundError):
                total += (Path(root) / name).stat().st_size
    return total


def periods(
    result: StreamResult,
    batches: list[Batch],
    samples: list[Sample],
    since_ms: int,
    *,
    period_s: float,
    count: int,
) -> list[dict[str, Any]]:
    """One row for each of the ``count`` measured periods: its events and latency (from the
    topic read back), its batches (ended in it) and its samples."""
    latency = {p["period"]: p for p in result.extra["periods"]}
    rows = []
    for number in sorted(p for p in latency if 0 <= p < count):
        begin, end = since_ms + number * period_s * 1000, since_ms + (number + 1) * period_s * 1000
        ended = [b for b in batches if begin <= b.ended_ms < end]
        before_end = [b for b in batches if b.ended_ms < end]  # the state as the period ends
        taken = [s for s in samples if s.period == number]
        if not taken:
            continue  # a period the sampler did not reach
        durations = [b.duration_ms / 1000 for b in ended]
        heap = [s.heap_after_gc_mib for s in taken if s.heap_after_gc_mib is not None]
        state = before_end[-1] if before_end else None
        rows.append(
            {
                "period": number,
                "events": latency[number]["records"],
                "not_visible": latency[number]["not_visible"],
                "latency_s": latency[number]["latency_s"],
                "latency_p95_s": latency[number]["latency_s"]["p95"],
                "batches": len(ended),  # none: a batch longer than the period
                "batch_p50_s": round(statistics.median(durations), 3) if durations else None,
                "batch_max_s": round(max(durations), 3) if durations else None,
                "state_rows": state.state_rows if state else 0,
                "state_mib": round(state.state_bytes / 2**20, 3) if state else 0.0,
                "lag_max": max(s.lag for s in taken),
                "driver_rss_mib": taken[-1].rss_mib,
                "heap_after_gc_mib": heap[-1] if heap else None,
                "checkpoint_mib": round(taken[-1].checkpoint_bytes / 2**20, 3),
            }
        )
    return rows


def trend(values: list[float]) -> dict[str, Any]:
    """The least-squares slope of ``values`` (one per period), the growth it fits over them,
    the residuals' standard deviation, and whether the growth is beyond noise."""
    if len(values) < 3:
        return {"slope": 0.0, "growth": 0.0, "noise": 0.0, "mean": 0.0, "grows": False}
    xs = list(range(len(values)))
    fit = statistics.linear_regression(xs, values)
    noise = statistics.stdev(
        v - (fit.intercept + fit.slope * x) for x, v in zip(xs, values, strict=True)
    )
    growth = fit.slope * (len(values) - 1)
    mean = statistics.fmean(values)
    grows = growth > NOISE_DEVIATIONS * noise and growth > RELEVANT_SHARE * abs(mean)
    return {
        "slope": fit.slope,
        "growth": growth,
        "noise": noise,
        "mean": mean,
        "grows": bool(grows),
    }


def trends(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The trend of each of :data:`SERIES` over the periods that have it."""
    found = {}
    for name in SERIES:
        values = [float(r[name]) for r in rows if r.get(name) is not None]
        found[name] = {
            **trend(values),
            "first": values[0] if values else None,
            "last": values[-1] if values else None,
        }
    return found


def soak(
    spark: SparkSession,
    env: dict[str, str],
    work: Path,
    rate: int,
    minutes: int,
    *,
    period_s: float = 60.0,
    warmup_s: float = 60.0,
) -> dict[str, Any]:
    """The soak's run and report (see the module's docstring); ``period_s``: the length of a
    reported period (a minute; shorter in the tests)."""
    bootstrap = env["SPARK_ETL_KAFKA_BOOTSTRAP"]
    plan = StreamPlan(rate, seconds=minutes * period_s, warmup_s=warmup_s)
    sampler = Sampler(spark, bootstrap, work / "checkpoints", warmup_s, period_s)
    result = run_stream(
        spark, env, work, plan, framework=True, watch=sampler.watching, period_s=period_s
    )
    assert sampler.log is not None
    since_ms = sampler.started_ms + int(warmup_s * 1000)  # as run_stream measures from
    rows = periods(
        result, sampler.log.batches, sampler.samples, since_ms, period_s=period_s, count=minutes
    )
    produced = int(result.extra["producer"]["produced"])
    topic = sum(end_offsets(spark, bootstrap).values())
    counted = counted_events(env, StreamPipeline().table)
    found = trends(rows)
    exact = produced == topic == counted
    return {
        "rate": rate,
        "minutes": minutes,
        "period_s": period_s,
        "warmup_s": warmup_s,
        "trigger": plan.trigger,
        "periods": rows,
        "trends": found,
        "totals": {"produced": produced, "in_topic": topic, "counted_in_postgresql": counted},
        "exact": exact,
        "goal_met": exact and not any(t["grows"] for t in found.values()),
        "overall": asdict(result),
        "machine": machine(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
    }


def _value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.3g}" if abs(value) < 10 else f"{value:,.1f}"
    return f"{int(value):,}"


def markdown(report: dict[str, Any]) -> str:
    """The soak's report: a row per period, the trend of each series, the totals, the verdict."""
    unit = "minute" if report["period_s"] == 60 else f"{report['period_s']:g}-second period"
    lines = [
        (
            f"streaming_kafka_pg at {report['rate']:,} events/s for {report['minutes']} "
            f"{unit}s after {report['warmup_s']:g} s of warm-up, trigger {report['trigger']}; "
            f"{report['machine']['cores']} cores, {report['date']}."
        ),
        "",
        (
            f"| {unit} | events | latency p50 / p95 / p99 s | batches | batch p50 / max s | "
            "lag max | driver RSS MiB | heap after GC MiB | state rows | state MiB | "
            "checkpoint MiB |"
        ),
        "|---:|---:|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["periods"]:
        lat = r["latency_s"]
        lines.append(
            f"| {r['period'] + 1} | {r['events']:,} | {lat['p50']} / {lat['p95']} / "
            f"{lat['p99']} | {r['batches']} | {_value(r['batch_p50_s'])} / "
            f"{_value(r['batch_max_s'])} | "
            f"{r['lag_max']:,} | {_value(r['driver_rss_mib'])} | "
            f"{_value(r['heap_after_gc_mib'])} | {r['state_rows']:,} | {r['state_mib']} | "
            f"{r['checkpoint_mib']} |"
        )
    lines += [
        "",
        f"| series | first | last | slope per {unit} | fitted growth | residual sd | verdict |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, t in report["trends"].items():
        verdict = "grows beyond noise" if t["grows"] else "flat (within noise)"
        lines.append(
            f"| {name} ({SERIES[name]}) | {_value(t['first'])} | {_value(t['last'])} | "
            f"{t['slope']:+.3g} | {t['growth']:+.3g} | {t['noise']:.3g} | {verdict} |"
        )
    totals = report["totals"]
    lines += [
        "",
        (
            f"Totals: the producer delivered {totals['produced']:,} events, the topic holds "
            f"{totals['in_topic']:,}, the PostgreSQL windows count "
            f"{_value(totals['counted_in_postgresql'])} "
            f"({'exact' if report['exact'] else 'NOT exact'})."
        ),
        "",
        "Goal (no series grows beyond noise, exact totals): "
        + ("met." if report["goal_met"] else "missed."),
    ]
    return "\n".join(lines) + "\n"


def plot(report: dict[str, Any], target: Path) -> None:
    """Each series against the period, in one figure."""
    import matplotlib  # noqa: PLC0415 - only the plot needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    rows = report["periods"]
    x = [r["period"] + 1 for r in rows]
    fig, axes = plt.subplots(2, 4, figsize=(15, 6.5))
    for ax, (name, unit) in zip(axes.flat, SERIES.items(), strict=True):
        values = [math.nan if r[name] is None else r[name] for r in rows]
        ax.plot(x, values, "o-", markersize=3)
        t = report["trends"][name]
        if t["first"] is not None and len(values) >= 3:
            fitted = [t["mean"] + t["slope"] * (i - (len(values) - 1) / 2) for i in range(len(x))]
            ax.plot(x, fitted, "--", color="grey", linewidth=0.8)
        ax.set(title=name, ylabel=unit, xlabel="minute" if report["period_s"] == 60 else "period")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    fig.suptitle(
        f"soak: streaming_kafka_pg at {report['rate']:,} events/s, {report['minutes']} periods "
        f"({report['date']})"
    )
    fig.tight_layout()
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, dpi=100)
    plt.close(fig)


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--minutes", type=int, default=30)
    parser.add_argument("--rate", type=int, default=100_000, help="events per second")
    parser.add_argument("--out", type=Path, default=Path("bench/results/soak"))
    parser.add_argument("--plot", type=Path, default=Path("docs/images/soak.png"))
    args = parser.parse_args()
    env, spark = bench_session()
    with tempfile.TemporaryDirectory(prefix="spark-etl-soak-") as work:
        report = soak(spark, env, Path(work), args.rate, args.minutes)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "soak.json").write_text(json.dumps(report, indent=2) + "\n")
    text = markdown(report)
    (args.out / "soak.md").write_text(text)
    plot(report, args.plot)
    print(text)  # noqa: T201 - the command's report


if __name__ == "__main__":
    main()
