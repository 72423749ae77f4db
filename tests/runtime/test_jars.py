"""The connector jars: coordinates from the pom, resolution with real Maven, and the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from spark_etl.exceptions import ConfigError, TransientError
from spark_etl.runtime import jars

POM = """<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>t</groupId><artifactId>t</artifactId><version>1</version><packaging>pom</packaging>
  <properties><pg.version>42.7.8</pg.version></properties>
  <dependencies>{deps}</dependencies>
</project>
"""
PG = (
    "<dependency><groupId>org.postgresql</groupId><artifactId>postgresql</artifactId>"
    "<version>${pg.version}</version></dependency>"
)
SLF4J = (
    "<dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId>"
    "<version>2.0.17</version></dependency>"
)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SPARK_ETL_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


def write_pom(tmp_path: Path, *deps: str) -> Path:
    pom = tmp_path / "pom.xml"
    pom.write_text(POM.format(deps="".join(deps)))
    return pom


def test_coordinates_substitute_properties(tmp_path: Path) -> None:
    pom = write_pom(tmp_path, PG, SLF4J)
    assert jars.coordinates(pom) == [
        "org.postgresql:postgresql:42.7.8",
        "org.slf4j:slf4j-api:2.0.17",
    ]
    assert jars.packages(pom) == "org.postgresql:postgresql:42.7.8,org.slf4j:slf4j-api:2.0.17"


def test_project_pom_declares_every_connector() -> None:
    artifacts = {c.split(":")[1] for c in jars.coordinates()}
    assert {
        "spark-sql-kafka-0-10_2.13",
        "spark-avro_2.13",
        "hadoop-aws",
        "postgresql",
        "mysql-connector-j",
    } <= artifacts


def test_missing_pom_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"Connector pom '.*nowhere\.xml' not found"):
        jars.coordinates(tmp_path / "nowhere.xml")


def test_dependency_without_version_is_refused(tmp_path: Path) -> None:
    pom = write_pom(
        tmp_path, "<dependency><groupId>g</groupId><artifactId>a</artifactId></dependency>"
    )
    with pytest.raises(ConfigError, match="lacks a groupId, artifactId or version"):
        jars.coordinates(pom)


def test_cache_folder_follows_pom_content(tmp_path: Path, home: Path) -> None:
    pom = write_pom(tmp_path, PG)
    first = jars.cache_dir(pom)
    assert first.parent == home / "jars"
    assert jars.cached_jars(pom) is None
    write_pom(tmp_path, PG, SLF4J)
    assert jars.cache_dir(pom) != first
    assert jars.cached_jars(tmp_path / "absent.xml") is None


@pytest.mark.integration
def test_resolve_with_maven_drops_what_pyspark_ships(tmp_path: Path, home: Path) -> None:
    pom = write_pom(tmp_path, PG, SLF4J)
    resolved = jars.resolve(pom)
    names = sorted(p.name for p in resolved)
    assert "postgresql-42.7.8.jar" in names
    assert not any(n.startswith("slf4j-api") for n in names)  # pyspark has slf4j-api already
    assert jars.cached_jars(pom) == resolved
    assert jars.resolve(pom) == resolved  # the second call is served from the cache


@pytest.mark.integration
def test_resolve_failure_is_transient_and_leaves_no_cache(tmp_path: Path, home: Path) -> None:
    pom = write_pom(
        tmp_path,
        "<dependency><groupId>io.spark-etl.absent</groupId>"
        "<artifactId>nothing</artifactId><version>0.0.1</version>"
        "</dependency>",
    )
    with pytest.raises(TransientError, match=r"Maven could not resolve the connector jars"):
        jars.resolve(pom)
    assert jars.cached_jars(pom) is None
    assert not jars.cache_dir(pom).exists()


def test_resolve_without_maven_says_how_to_install(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jars.shutil, "which", lambda _: None)
    with pytest.raises(ConfigError, match=r"apt-get install maven"):
        jars.resolve(write_pom(tmp_path, PG))


def test_main_prints_packages_and_classpath(capsys: pytest.CaptureFixture[str]) -> None:
    assert jars.main(["packages"]) == 0
    assert capsys.readouterr().out.strip() == jars.packages()
    assert jars.main(["classpath"]) == 0
    classpath = capsys.readouterr().out.strip().split(":")
    assert all(p.endswith(".jar") for p in classpath)
    assert jars.main(["bogus"]) == 2
    assert "usage:" in capsys.readouterr().err
