"""The soak: its verdict on each series (no Spark), and a short real run through the example's
streaming_kafka_pg pipeline (six-second periods instead of minutes) whose totals must be exact."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bench.run import bench_session
from bench.soak import SERIES, markdown, plot, soak, trend


def test_a_flat_noisy_series_does_not_grow() -> None:
    noisy = [100.0, 104.0, 97.0, 102.0, 99.0, 103.0, 96.0, 101.0, 100.0, 98.0]
    assert trend(noisy)["grows"] is False


def test_a_steady_rise_grows_beyond_noise() -> None:
    rising = [100.0 + 3 * i + (1 if i % 2 else -1) for i in range(10)]
    found = trend(rising)
    assert found["grows"] is True
    assert 2.9 < found["slope"] < 3.2  # per period, the rise it was built with


def test_a_rise_smaller_than_five_percent_of_the_mean_is_not_growth() -> None:
    # 2 MiB over 10 minutes on 2 GiB: fitted exactly, but not a leak worth the name
    assert trend([2048.0 + 0.2 * i for i in range(10)])["grows"] is False


def test_a_falling_series_or_too_few_periods_do_not_grow() -> None:
    assert trend([10.0 - i for i in range(10)])["grows"] is False
    assert trend([1.0, 100.0])["grows"] is False


@pytest.mark.integration
@pytest.mark.slow
def test_a_short_soak_reports_every_period_and_exact_totals(
    tmp_path: Path, services: dict[str, str], spark: object
) -> None:
    env, session = bench_session()
    # the warm-up lets the new session's first slow batches pass (JIT, state store creation)
    report = soak(session, env, tmp_path / "work", 2_000, 3, period_s=6.0, warmup_s=12.0)

    totals = report["totals"]
    # every event the producer delivered is in the topic and counted once in PostgreSQL
    assert totals["produced"] == totals["in_topic"] == totals["counted_in_postgresql"] >= 55_000
    assert report["exact"] is True
    rows = report["periods"]
    assert [r["period"] for r in rows] == [0, 1, 2]
    for row in rows:
        assert 10_000 <= row["events"] <= 14_000 and row["not_visible"] == 0
        assert row["batches"] >= 1 and row["state_rows"] > 0
        assert row["driver_rss_mib"] > 0 and row["heap_after_gc_mib"] > 0
        assert row["checkpoint_mib"] > 0
    assert set(report["trends"]) == set(SERIES)
    text = markdown(report)
    assert text.splitlines()[0].startswith(
        "streaming_kafka_pg at 2,000 events/s for 3 6-second periods after 12 s of warm-up"
    )
    assert f"the topic holds {totals['in_topic']:,}, the PostgreSQL windows count" in text
    assert "(exact)." in text
    plot(report, tmp_path / "soak.png")
    assert (tmp_path / "soak.png").stat().st_size > 10_000
    json.dumps(report)  # the report is what soak.json holds
