"""``jvm/build_jar.py``: the JVM helper compiled for the wheel, rebuilt only when its sources
change."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "jvm"))
import build_jar


def test_the_helper_builds_and_an_up_to_date_jar_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    jar = tmp_path / "out" / "helper.jar"
    assert build_jar.build(jar) == jar
    with zipfile.ZipFile(jar) as built:
        names = built.namelist()
    assert "io/spark_etl/hadoop/InProcessLocalFileSystem.class" in names
    assert "io/spark_etl/hadoop/InProcessRawLocalFileSystem.class" in names
    assert build_jar.built_digest(jar) is not None

    def no_javac() -> str:
        raise AssertionError("compiled again")

    monkeypatch.setattr(build_jar, "javac", no_javac)
    assert build_jar.build(jar) == jar  # same sources: not compiled again


def test_a_changed_source_is_built_again(tmp_path: Path) -> None:
    sources = tmp_path / "src"
    (sources / "x").mkdir(parents=True)
    (sources / "x" / "A.java").write_text("package x; public class A {}\n")
    jar = tmp_path / "a.jar"
    build_jar.build(jar, sources)
    first = build_jar.built_digest(jar)
    (sources / "x" / "A.java").write_text("package x; public class A { int n; }\n")
    build_jar.build(jar, sources)
    assert build_jar.built_digest(jar) != first


def test_a_compile_error_names_the_file_and_leaves_no_jar(tmp_path: Path) -> None:
    sources = tmp_path / "src"
    sources.mkdir()
    (sources / "Broken.java").write_text("class Broken { int x = ; }\n")
    jar = tmp_path / "broken.jar"
    with pytest.raises(build_jar.BuildError, match=r"javac failed:\n.*Broken\.java"):
        build_jar.build(jar, sources)
    assert not jar.exists()


def test_no_sources_and_no_javac_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(build_jar.BuildError, match="No Java sources under"):
        build_jar.build(tmp_path / "x.jar", tmp_path)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setattr(build_jar.shutil, "which", lambda name: None)
    with pytest.raises(build_jar.BuildError, match="No javac: install a JDK"):
        build_jar.javac()


def test_main_reports_a_failure_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def fail() -> Path:
        raise build_jar.BuildError("No javac: install a JDK")

    monkeypatch.setattr(build_jar, "build", fail)
    assert build_jar.main() == 1
    assert capsys.readouterr().err == "jvm/build_jar.py: error: No javac: install a JDK\n"


def test_the_hadoop_api_is_the_one_the_connectors_are_declared_for(tmp_path: Path) -> None:
    from spark_etl.runtime import jars

    assert any(c.endswith(f"hadoop-aws:{build_jar.hadoop_version()}") for c in jars.coordinates())
    pom = tmp_path / "pom.xml"
    pom.write_text('<project xmlns="http://maven.apache.org/POM/4.0.0"><properties/></project>')
    with pytest.raises(build_jar.BuildError, match=r"declares no hadoop\.version property"):
        build_jar.hadoop_version(pom)
