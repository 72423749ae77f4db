"""The in-process local filesystem (``spark_etl.runtime.localfs``) on the suite's real session."""

from __future__ import annotations

import json
import logging
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from spark_etl.runtime import localfs


def _hadoop(spark: SparkSession) -> Any:
    jvm = spark._jvm
    assert jvm is not None
    return jvm.org.apache.hadoop


def _session_fs(spark: SparkSession) -> Any:
    """The ``file:`` filesystem as Spark's own code gets it (a Hadoop conf Spark built)."""
    hadoop = _hadoop(spark)
    return hadoop.fs.Path("file:///").getFileSystem(
        spark._jsc.hadoopConfiguration()  # type: ignore[union-attr]
    )


def _hadoops_own_fs(spark: SparkSession) -> Any:
    hadoop = _hadoop(spark)
    fs = hadoop.fs.LocalFileSystem()
    fs.initialize(spark._jvm.java.net.URI("file:///"), spark._jsc.hadoopConfiguration())  # type: ignore[union-attr]
    return fs


def _create(spark: SparkSession, fs: Any, path: Path) -> None:
    out = fs.create(_hadoop(spark).fs.Path(path.as_uri()), True)
    out.write(b"spark-etl")
    out.close()


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _last_pid() -> int:
    """The last process id the kernel handed out (forks and threads alike)."""
    return int(Path("/proc/loadavg").read_text().split()[-1])


def test_local_session_uses_the_in_process_filesystem(spark: SparkSession) -> None:
    conf = spark.sparkContext.getConf()
    assert conf.get(localfs.FS_IMPL_KEY) == localfs.FILESYSTEM_CLASS
    assert str(localfs.helper_jar()) in conf.get(localfs.CLASSPATH_KEY, "")
    assert _session_fs(spark).getClass().getName() == localfs.FILESYSTEM_CLASS


def test_files_get_the_modes_hadoop_gives_them(spark: SparkSession, tmp_path: Path) -> None:
    ours, hadoops = tmp_path / "ours.bin", tmp_path / "hadoops.bin"
    _create(spark, _session_fs(spark), ours)
    _create(spark, _hadoops_own_fs(spark), hadoops)
    assert _mode(ours) == _mode(hadoops) == 0o644  # Hadoop's default file mode, umask 022
    assert _mode(tmp_path / ".ours.bin.crc") == _mode(tmp_path / ".hadoops.bin.crc")
    assert (tmp_path / "ours.bin").read_bytes() == b"spark-etl"


@pytest.mark.parametrize(
    ("mode", "kind"),
    [(0o640, "file"), (0o600, "file"), (0o751, "dir"), (0o1755, "dir"), (0o000, "file")],
)
def test_set_permission_sets_every_bit(
    spark: SparkSession, tmp_path: Path, mode: int, kind: str
) -> None:
    """Nine bits through java.nio; the sticky bit through Hadoop's own path."""
    hadoop = _hadoop(spark)
    target = tmp_path / kind
    if kind == "dir":
        target.mkdir()
    else:
        target.write_bytes(b"x")
    _session_fs(spark).setPermission(
        hadoop.fs.Path(target.as_uri()), hadoop.fs.permission.FsPermission(mode)
    )
    assert _mode(target) == mode


def test_mkdirs_sets_the_requested_mode(spark: SparkSession, tmp_path: Path) -> None:
    hadoop = _hadoop(spark)
    target = tmp_path / "a" / "b"
    assert _session_fs(spark).mkdirs(
        hadoop.fs.Path(target.as_uri()), hadoop.fs.permission.FsPermission(0o750)
    )
    assert _mode(target) == 0o750


def test_a_missing_file_is_an_io_error(spark: SparkSession, tmp_path: Path) -> None:
    hadoop = _hadoop(spark)
    with pytest.raises(Exception, match="NoSuchFileException"):
        _session_fs(spark).setPermission(
            hadoop.fs.Path((tmp_path / "missing").as_uri()),
            hadoop.fs.permission.FsPermission(0o644),
        )


def test_creating_files_forks_no_process(spark: SparkSession, tmp_path: Path) -> None:
    """Hadoop's own filesystem forks a chmod per file and per checksum file: 30 files take at
    least 60 process ids. The session's takes none: the least of five rounds stays small (the
    kernel hands out ids to every process of the machine, so one round can see another program's
    burst of threads)."""

    def ids_taken(fs: Any, prefix: str) -> int:
        before = _last_pid()
        for i in range(30):
            _create(spark, fs, tmp_path / f"{prefix}-{i}")
        return _last_pid() - before

    forked_by_hadoop = ids_taken(_hadoops_own_fs(spark), "hadoop")
    forked_by_ours = min(ids_taken(_session_fs(spark), f"ours{r}") for r in range(5))
    assert forked_by_hadoop >= 60  # proves the measure sees the forks
    assert forked_by_ours < 10


def test_a_stateful_checkpoint_goes_through_the_session_filesystem(
    spark: SparkSession, tmp_path: Path
) -> None:
    """A stateful query's checkpoint: offsets, commits and the state store's files, through the
    session's filesystem; the data comes back exact."""
    from pyspark.sql import functions as F

    source = tmp_path / "in"
    source.mkdir()
    (source / "a.json").write_text("\n".join(json.dumps({"k": k}) for k in "aabbbc"))
    query = (
        spark.readStream.schema("k string")
        .json(str(source))
        .groupBy("k")
        .agg(F.count(F.lit(1)).alias("n"))
        .writeStream.outputMode("complete")
        .format("memory")
        .queryName("localfs_checkpoint")
        .option("checkpointLocation", str(tmp_path / "ckpt"))
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination(120)
    assert query.exception() is None
    rows = {r["k"]: r["n"] for r in spark.table("localfs_checkpoint").collect()}
    assert rows == {"a": 2, "b": 3, "c": 1}
    written = sorted(
        p.relative_to(tmp_path / "ckpt").as_posix() for p in (tmp_path / "ckpt").rglob("*")
    )
    assert "offsets/0" in written and "commits/0" in written
    assert any(name.endswith("1.delta") for name in written)
    assert _mode(tmp_path / "ckpt" / "offsets" / "0") == 0o644


# ---- session_conf, without a new JVM ------------------------------------------------------------
def test_only_local_sessions_get_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    jar = tmp_path / "x.jar"
    monkeypatch.setattr(localfs, "helper_jar", lambda: jar)
    assert localfs.session_conf({"spark.master": "spark://h:7077"}, jvm_running=False) == {}
    assert localfs.session_conf({"spark.master": "yarn"}, jvm_running=False) == {}
    assert localfs.session_conf({"spark.master": "local[2]"}, jvm_running=False) == {
        localfs.CLASSPATH_KEY: str(jar),
        localfs.FS_IMPL_KEY: localfs.FILESYSTEM_CLASS,
    }


def test_the_projects_own_choice_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(localfs, "helper_jar", lambda: tmp_path / "x.jar")
    settings = {
        "spark.master": "local[*]",
        localfs.FS_IMPL_KEY: "org.apache.hadoop.fs.LocalFileSystem",
    }
    assert localfs.session_conf(settings, jvm_running=False) == {}


def test_an_existing_driver_class_path_is_kept(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    jar = tmp_path / "x.jar"
    monkeypatch.setattr(localfs, "helper_jar", lambda: jar)
    settings = {"spark.master": "local[*]", localfs.CLASSPATH_KEY: "/opt/extra.jar"}
    conf = localfs.session_conf(settings, jvm_running=False)
    assert conf[localfs.CLASSPATH_KEY] == f"/opt/extra.jar{os.pathsep}{jar}"


def test_a_running_jvm_gets_it_only_if_it_can_load_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, spark: SparkSession
) -> None:
    monkeypatch.setattr(localfs, "helper_jar", lambda: tmp_path / "x.jar")
    local = {"spark.master": "local[2]"}
    assert localfs.session_conf(local, jvm_running=True) == {
        localfs.FS_IMPL_KEY: localfs.FILESYSTEM_CLASS  # the suite's JVM has the jar
    }
    monkeypatch.setattr(localfs, "FILESYSTEM_CLASS", "io.spark_etl.hadoop.Missing")
    assert localfs.session_conf(local, jvm_running=True) == {}


def test_no_jar_no_change(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(localfs, "helper_jar", lambda: None)
    assert localfs.session_conf({"spark.master": "local[2]"}, jvm_running=False) == {}


def test_main_prints_the_jar(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(localfs, "helper_jar", lambda: tmp_path / "x.jar")
    assert localfs.main() == 0
    assert capsys.readouterr().out == f"{tmp_path / 'x.jar'}\n"
    monkeypatch.setattr(localfs, "helper_jar", lambda: None)
    assert localfs.main() == 1


def test_the_installed_package_carries_the_jar() -> None:
    """The helper ships inside the package (built with it), never compiled at run time."""
    import zipfile

    jar = localfs.helper_jar()
    assert jar is not None and jar.parent.name == "runtime"  # beside this module, in the package
    with zipfile.ZipFile(jar) as built:
        assert "io/spark_etl/hadoop/InProcessLocalFileSystem.class" in built.namelist()


def test_a_package_without_the_jar_keeps_hadoop_s_filesystem(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(localfs, "files", lambda package: tmp_path)
    with caplog.at_level(logging.WARNING, logger=localfs.__name__):
        assert localfs.helper_jar() is None
    assert "local filesystem helper" in caplog.text and "is not installed" in caplog.text
