"""spark-etl's config loader on the example project's ``conf/``: its config keys, the local stack's
endpoints, and the catalog's streaming triggers as their environment variables set them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from spark_etl.runtime.config import EtlConfigLoader

ROOT = Path(__file__).resolve().parents[2] / "example"
# the archive's S3 file sink cannot route dead letters: a side query of its source does; the live
# stream's JDBC sink routes them itself, so its source has no streaming settings
SOURCES = ("event_stream_archive",)
SINKS = ("event_counts_pg", "events_archive")


def triggers(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict[str, Any]:
    for name in ("SPARK_ETL_STREAM_TRIGGER", "SPARK_ETL_DEAD_LETTER_TRIGGER"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    catalog = EtlConfigLoader(conf_source=str(ROOT / "conf"))["catalog"]
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


def test_spark_runtime_and_services_are_config_of_their_own() -> None:
    loader = EtlConfigLoader(conf_source=str(ROOT / "conf"))
    assert loader["spark"]["spark.sql.session.timeZone"] == "UTC"
    assert loader["runtime"]["retry"]["default"]["retries"] == 3
    # services.yml (the starter's) and services_example.yml (the example's) merge
    assert set(loader["services"]) == {"postgres", "s3", "mariadb", "kafka"}


def test_a_project_s_own_patterns_are_merged_over_spark_etl_s(tmp_path: Path) -> None:
    (tmp_path / "base").mkdir()
    (tmp_path / "local").mkdir()
    (tmp_path / "base" / "alerts.yml").write_text("to: ops@example.com\n")
    loader = EtlConfigLoader(conf_source=str(tmp_path), config_patterns={"alerts": ["alerts*"]})
    assert loader["alerts"] == {"to": "ops@example.com"}
    assert "spark" in loader.config_patterns


def test_the_local_stack_s_endpoints_are_loaded_but_never_over_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "conf" / "base").mkdir(parents=True)
    (tmp_path / ".local").mkdir()
    (tmp_path / ".local" / "services.env").write_text(
        "SPARK_ETL_TEST_ENDPOINT=from-file\nSPARK_ETL_TEST_SET=from-file\n"
    )
    monkeypatch.delenv("SPARK_ETL_LOCAL", raising=False)
    monkeypatch.delenv("SPARK_ETL_TEST_ENDPOINT", raising=False)
    monkeypatch.setenv("SPARK_ETL_TEST_SET", "from-shell")
    EtlConfigLoader(conf_source=str(tmp_path / "conf"))
    assert os.environ["SPARK_ETL_TEST_ENDPOINT"] == "from-file"
    assert os.environ["SPARK_ETL_TEST_SET"] == "from-shell"
    monkeypatch.delenv("SPARK_ETL_TEST_ENDPOINT")
