"""``conf/base/catalog.yml`` as Kedro resolves it: the streaming triggers and their env vars."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kedro.config import OmegaConfigLoader

from spark_etl.settings import CONFIG_LOADER_ARGS

ROOT = Path(__file__).resolve().parents[1]
# the archive's S3 file sink cannot route dead letters: a side query of its source does; the live
# stream's JDBC sink routes them itself, so its source has no streaming settings
SOURCES = ("event_stream_archive",)
SINKS = ("event_counts_pg", "events_archive")


def triggers(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict[str, Any]:
    for name in ("SPARK_ETL_STREAM_TRIGGER", "SPARK_ETL_DEAD_LETTER_TRIGGER"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    catalog = OmegaConfigLoader(conf_source=str(ROOT / "conf"), **CONFIG_LOADER_ARGS)["catalog"]
    assert "streaming" not in catalog["event_stream_live"]
    return {name: catalog[name]["streaming"]["trigger"] for name in SOURCES + SINKS}


def test_dead_letter_queries_follow_the_stream_trigger_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert set(triggers(monkeypatch).values()) == {"5 seconds"}
    # a bounded run bounds the side queries too, or the run would never end
    assert set(triggers(monkeypatch, SPARK_ETL_STREAM_TRIGGER="available-now").values()) == {
        "available-now"
    }


def test_dead_letter_trigger_moves_only_the_side_queries(monkeypatch: pytest.MonkeyPatch) -> None:
    got = triggers(
        monkeypatch,
        SPARK_ETL_STREAM_TRIGGER="1 second",
        SPARK_ETL_DEAD_LETTER_TRIGGER="10 seconds",
    )
    assert got == {
        "event_stream_archive": "10 seconds",
        "event_counts_pg": "1 second",
        "events_archive": "1 second",
    }
