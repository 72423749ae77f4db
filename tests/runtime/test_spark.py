from __future__ import annotations

from pyspark import SparkConf
from pyspark.sql import SparkSession

from spark_etl.runtime import jars
from spark_etl.runtime.spark import DELTA_CONF, delta_conf, get_spark


def test_a_local_session_has_the_connector_jars_on_its_classpath(spark: SparkSession) -> None:
    """In local mode the jars are on the driver's classpath, not in ``spark.jars`` (which would
    copy each of them into the session's temporary folder)."""
    conf = spark.sparkContext.getConf()
    loaded = conf.get("spark.driver.extraClassPath", "")
    for coordinate in jars.coordinates():
        artifact = coordinate.split(":")[1]
        assert artifact in loaded, f"{artifact} missing from the driver's classpath"
    assert conf.get("spark.jars", "") == ""
    kafka_source = "org.apache.spark.sql.kafka010.KafkaSourceProvider"
    assert spark.sparkContext._jvm.java.lang.Class.forName(kafka_source).getName() == kafka_source


def test_a_classpath_of_spark_yml_s_own_keeps_the_connectors_after_it(tmp_path) -> None:
    """A driver classpath spark.yml sets (a jar of the project's) is not taken for the
    connectors: theirs follow it, in a session of its own process."""
    import subprocess
    import sys

    script = (
        "from spark_etl.runtime.spark import get_spark\n"
        "s = get_spark({'spark.master': 'local[1]', 'spark.ui.enabled': 'false',"
        " 'spark.driver.extraClassPath': '/opt/own/udfs.jar'})\n"
        "print(s.sparkContext.getConf().get('spark.driver.extraClassPath'))\n"
        "print(s.conf.get('spark.sql.extensions'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    classpath, extensions = done.stdout.strip().splitlines()[-2:]
    entries = classpath.split(":")
    assert entries[0] == "/opt/own/udfs.jar"
    assert any("delta-spark" in e for e in entries) and any("bundle-" in e for e in entries)
    assert extensions == DELTA_CONF["spark.sql.extensions"]


def test_a_cluster_or_a_running_jvm_gets_spark_jars() -> None:
    from spark_etl.runtime.spark import connector_jars_conf

    assert set(connector_jars_conf()) == {"spark.jars"}
    assert set(connector_jars_conf(on_driver_classpath=True)) == {"spark.driver.extraClassPath"}


def test_get_spark_reuses_active_session(spark: SparkSession) -> None:
    assert get_spark({"spark.app.name": "other"}) is spark


def test_avro_connector_round_trip(spark: SparkSession, tmp_path) -> None:
    df = spark.createDataFrame([(1, "a"), (2, "b")], "id long, name string")
    df.write.format("avro").save(str(tmp_path / "out"))
    back = spark.read.format("avro").load(str(tmp_path / "out"))
    assert sorted(map(tuple, back.collect())) == [(1, "a"), (2, "b")]


def test_datasets_find_the_session_from_another_thread(spark: SparkSession, tmp_path) -> None:
    """A run started on a worker thread (a scheduler, a notebook's background job) has no active
    session of its own: the datasets use the process's default one."""
    from concurrent.futures import ThreadPoolExecutor

    from spark_etl.datasets import S3Dataset

    def round_trip() -> tuple[bool, int]:
        no_active_here = SparkSession.getActiveSession() is None
        dataset = S3Dataset(path=str(tmp_path / "threaded"))
        dataset.save(spark.range(7).selectExpr("id", "id * 2 AS twice"))
        return no_active_here, dataset.load().count()

    with ThreadPoolExecutor(1) as pool:
        no_active_here, rows = pool.submit(round_trip).result()
    assert no_active_here  # the case this guards: Spark's active session is per thread
    assert rows == 7


def test_warnings_that_ask_nothing_of_the_user_are_held_at_error(spark: SparkSession) -> None:
    from spark_etl.runtime.spark import QUIET_JVM_LOGGERS

    log_manager = spark.sparkContext._jvm.org.apache.logging.log4j.LogManager
    for name, level in QUIET_JVM_LOGGERS.items():
        assert str(log_manager.getLogger(name).getLevel()) == level, name
    # everything else keeps Spark's level
    assert str(log_manager.getLogger("org.apache.spark.sql.execution").getLevel()) == "WARN"


def test_sessions_get_delta_s_extension_when_the_connectors_include_delta(
    spark: SparkSession,
) -> None:
    assert spark.conf.get("spark.sql.extensions") == DELTA_CONF["spark.sql.extensions"]
    submitted = SparkConf(loadDefaults=False)
    assert delta_conf({"spark.jars": "/m2/postgresql.jar"}, submitted) == {}
    packages = {"spark.jars.packages": "io.delta:delta-spark_2.13:4.4.0"}
    assert delta_conf(packages, submitted) == DELTA_CONF
    own = {**packages, "spark.sql.extensions": "my.Extension"}  # spark.yml's own wins
    assert delta_conf(own, submitted) == {
        "spark.sql.catalog.spark_catalog": DELTA_CONF["spark.sql.catalog.spark_catalog"]
    }
    by_submit = SparkConf(loadDefaults=False).set("spark.jars", "/x/delta-spark_2.13-4.4.0.jar")
    assert delta_conf({}, by_submit) == DELTA_CONF
