"""The one place a SparkSession is built.

Local runs get the connector jars from the Maven cache (``spark_etl.runtime.jars``) and, in local
mode, the local filesystem that sets permissions in-process (``spark_etl.runtime.localfs``); a
session started by ``spark-submit`` keeps the ``--jars`` / ``--packages`` it was given. Everything
else comes from ``conf/<env>/spark.yml``.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pyspark import SparkConf, SparkContext
from pyspark.java_gateway import launch_gateway
from pyspark.sql import SparkSession

from spark_etl.runtime import jars, localfs, logs

logger = logging.getLogger(__name__)

DEFAULT_CONF: dict[str, str] = {
    "spark.app.name": "spark-etl",
    "spark.master": "local[*]",
    "spark.sql.session.timeZone": "UTC",
    "spark.ui.showConsoleProgress": "false",
}
_JAR_KEYS = ("spark.jars", "spark.jars.packages")
_DRIVER_CLASSPATH = "spark.driver.extraClassPath"
#: What Delta Lake tables (``DeltaDataset``) need of a session whose connectors include Delta.
DELTA_CONF: dict[str, str] = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}
#: JVM loggers held at ERROR: their warnings come on every run and ask nothing of the user.
QUIET_JVM_LOGGERS: dict[str, str] = {
    # "Writing Avro files with non-nullable Avro schema and nullable catalyst schema will throw
    # runtime exception if there is a record with null value": a contract checks its required
    # fields for nulls inside the job that writes them, and names dataset, field and records.
    "org.apache.spark.sql.avro.AvroSerializer": "ERROR",
    # "Using standard FileOutputCommitter to commit work. This is slow and potentially unsafe":
    # S3Dataset's default on purpose (a failed job leaves the destination as it was); the S3A
    # committers are its `committer` option.
    "org.apache.hadoop.fs.s3a.commit.AbstractS3ACommitterFactory": "ERROR",
    # "Assume no metadata directory ... FileNotFoundException" with a Java stack, for a path
    # that does not exist: S3Dataset says so itself (SourceMissingError).
    "org.apache.spark.sql.execution.streaming.sinks.FileStreamSink": "ERROR",
    "org.apache.spark.sql.execution.streaming.FileStreamSink": "ERROR",
}


def get_spark(conf: Mapping[str, Any] | None = None) -> SparkSession:
    """Return the active SparkSession, or build one from ``conf`` with the connector jars on it.

    Args:
        conf: Spark properties (``conf/<env>/spark.yml``); values are turned into strings.

    Returns:
        The session, also registered as Spark's active and default one.
    """
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    settings = {**DEFAULT_CONF, **{k: _as_str(v) for k, v in (conf or {}).items()}}
    submitted = _submitted_conf()
    for key in ("spark.master", "spark.app.name"):
        if submitted.contains(key):
            settings.pop(key)
    if not any(submitted.contains(k) or k in settings for k in _JAR_KEYS):
        jvm_to_start = SparkContext._gateway is None and not os.environ.get("PYSPARK_GATEWAY_PORT")
        local = re.fullmatch(r"local(\[[^]]*\])?", str(settings.get("spark.master", "")))
        connectors = connector_jars_conf(on_driver_classpath=bool(local) and jvm_to_start)
        own = settings.get(_DRIVER_CLASSPATH)
        if own and _DRIVER_CLASSPATH in connectors:  # spark.yml's own entries come first
            connectors[_DRIVER_CLASSPATH] = f"{own}{os.pathsep}{connectors[_DRIVER_CLASSPATH]}"
        settings.update(connectors)
    settings.update(delta_conf(settings, submitted))
    if not os.environ.get("PYSPARK_GATEWAY_PORT"):
        settings.update(
            localfs.session_conf(settings, jvm_running=SparkContext._gateway is not None)
        )
    jvm_log = logs.jvm_log_path()
    if jvm_log is not None and SparkContext._gateway is None:
        _start_jvm(settings, jvm_log)
    builder = SparkSession.builder
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(str(settings.get("spark.log.level", "WARN")))
    _quiet_jvm_loggers(spark)
    logger.info(
        "Spark session started: master=%s, version=%s", spark.sparkContext.master, spark.version
    )
    return spark


def _quiet_jvm_loggers(spark: SparkSession) -> None:
    """Hold the :data:`QUIET_JVM_LOGGERS` at their level (log4j 2, Spark's logging)."""
    log4j = spark.sparkContext._jvm.org.apache.logging.log4j  # type: ignore[union-attr]
    try:
        for name, level in QUIET_JVM_LOGGERS.items():
            log4j.core.config.Configurator.setLevel(name, log4j.Level.toLevel(level))
    except Exception as exc:  # a JVM without log4j 2 core keeps its warnings
        logger.debug("JVM loggers left as they are: %s", exc)


def _start_jvm(settings: Mapping[str, str], output: Path) -> None:
    """Start the driver's JVM with its output (JVM and log4j warnings, Spark's start-up lines)
    going to ``output``, beside the run's log, rather than over the run's own messages."""
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("ab") as sink:  # the JVM keeps its own descriptor; ours can close
        gateway = launch_gateway(
            SparkConf(loadDefaults=False).setAll(list(settings.items())),
            popen_kwargs={"stdout": sink, "stderr": subprocess.STDOUT},
        )
    SparkContext._ensure_initialized(gateway=gateway)
    logger.info("Spark's own output goes to %s", output, extra={"event": "spark_output"})


def _submitted_conf() -> SparkConf:
    """What ``spark-submit`` passed (``--master``, ``--jars``, ``--packages``, ``--conf``).

    Under ``spark-submit`` the JVM is already running (``PYSPARK_GATEWAY_PORT`` is set) and holds
    those settings as system properties; connecting to it first lets ``SparkConf`` read them.
    """
    if os.environ.get("PYSPARK_GATEWAY_PORT"):
        SparkContext._ensure_initialized()
    return SparkConf()


def connector_jars_conf(on_driver_classpath: bool = False) -> dict[str, str]:
    """``spark.jars`` from the Maven cache, resolved first if needed; ``--packages`` as fallback.

    The fallback (Spark's own Ivy resolution) serves an installed wheel with no checkout beside it.

    Args:
        on_driver_classpath: put the jars on the driver JVM's classpath
            (``spark.driver.extraClassPath``) instead: in local mode the executors are that JVM,
            and ``spark.jars`` would have each session copy every jar (the AWS SDK bundle alone
            is most of a gigabyte) into its temporary folder first. Only for a JVM not started
            yet: a running one cannot take a classpath.
    """
    try:
        resolved = jars.resolve()
    except Exception as exc:  # any failure here falls back to Spark's own resolution
        logger.warning(
            "Connector jars not resolved with Maven (%s); using spark.jars.packages", exc
        )
        if not jars.default_pom().is_file():
            return {}
        return {"spark.jars.packages": jars.packages(), "spark.jars.excludes": jars.excludes()}
    if on_driver_classpath:
        return {_DRIVER_CLASSPATH: os.pathsep.join(str(p) for p in resolved)}
    return {"spark.jars": ",".join(str(p) for p in resolved)}


def delta_conf(settings: Mapping[str, str], submitted: SparkConf) -> dict[str, str]:
    """:data:`DELTA_CONF`, where the connectors (``spark.jars``, ``spark.jars.packages``, the
    driver's classpath, set here or by ``spark-submit``) include Delta and ``spark.yml`` did not
    set them itself.

    A cluster whose image holds the jars (no ``--jars`` or ``--packages``) sets both in
    ``spark.yml``.
    """
    keys = (*_JAR_KEYS, _DRIVER_CLASSPATH)
    connectors = " ".join(
        [settings.get(k, "") for k in keys] + [submitted.get(k, "") for k in keys]
    )
    if "delta-spark" not in connectors:
        return {}
    return {k: v for k, v in DELTA_CONF.items() if k not in settings and not submitted.contains(k)}


def _as_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
