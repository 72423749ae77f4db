"""The local filesystem with permissions set in-process, for local-mode sessions.

Hadoop without its native library (``libhadoop.so``, which Maven Central does not ship) sets the
permissions of every file it creates on the local disk by forking a ``chmod`` process. A streaming
query creates several such files per micro-batch (the offset and commit logs, a state delta and its
checksum per state partition), and a fork took 10-20 ms here, more on a busy machine.

spark-etl's JVM helper (``jvm/src/io/spark_etl/hadoop/`` in its repository, compiled into the wheel
as ``spark_etl/runtime/spark-etl-localfs.jar`` when the wheel is built) is Hadoop's checksummed
``file:`` filesystem with one method changed: ``setPermission`` sets the same nine bits through
``java.nio`` (Hadoop's own path stays for the sticky bit, with the native library, and off POSIX).
:func:`session_conf` puts it on the sessions spark-etl starts in local mode, where the driver and
the executors share one JVM:

* ``spark.driver.extraClassPath``: the jar, so every class loader of that JVM sees it;
* ``spark.hadoop.fs.file.impl``: ``io.spark_etl.hadoop.InProcessLocalFileSystem``.

Nothing changes when the session runs on a cluster (its checkpoints live on HDFS or S3), under
``spark-submit``, or when ``spark.yml`` sets ``spark.hadoop.fs.file.impl`` itself; an installation
without the jar (built without a JDK) keeps Hadoop's filesystem, with a warning.

Run as ``python -m spark_etl.runtime.localfs`` to print the jar's path.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from importlib.resources import files
from pathlib import Path

logger = logging.getLogger(__name__)

FILESYSTEM_CLASS = "io.spark_etl.hadoop.InProcessLocalFileSystem"
FS_IMPL_KEY = "spark.hadoop.fs.file.impl"
CLASSPATH_KEY = "spark.driver.extraClassPath"
_JAR_NAME = "spark-etl-localfs.jar"


def helper_jar() -> Path | None:
    """The helper jar shipped in the package; ``None`` (logged) when the build left it out."""
    jar = Path(str(files("spark_etl.runtime") / _JAR_NAME))
    if jar.is_file():
        return jar
    logger.warning(
        "spark-etl's local filesystem helper (%s) is not installed: local files keep Hadoop's "
        "permission setting, one forked chmod per file. Install a wheel built with a JDK.",
        jar,
    )
    return None


def session_conf(settings: Mapping[str, str], jvm_running: bool) -> dict[str, str]:
    """The properties that put the in-process filesystem on a new session with ``settings``:
    empty unless its master is local, ``spark.yml`` leaves ``fs.file.impl`` alone and the jar
    is installed. ``jvm_running``: a JVM of an earlier session is up (its class path is fixed, so
    the jar must already be on it)."""
    if not settings.get("spark.master", "").startswith("local") or FS_IMPL_KEY in settings:
        return {}
    jar = helper_jar()
    if jar is None:
        return {}
    if jvm_running:
        return {FS_IMPL_KEY: FILESYSTEM_CLASS} if _loadable(FILESYSTEM_CLASS) else {}
    classpath = settings.get(CLASSPATH_KEY)
    return {
        CLASSPATH_KEY: f"{classpath}{os.pathsep}{jar}" if classpath else str(jar),
        FS_IMPL_KEY: FILESYSTEM_CLASS,
    }


def _loadable(class_name: str) -> bool:
    """Whether the running JVM's class path has ``class_name``."""
    from pyspark import SparkContext  # noqa: PLC0415 - only with a running JVM

    jvm = SparkContext._jvm
    if jvm is None:
        return False
    try:
        jvm.java.lang.Class.forName(class_name)
    except Exception:  # py4j wraps the ClassNotFoundException
        return False
    return True


def main() -> int:
    """Print the jar's path (exit 1 if it is not installed)."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    jar = helper_jar()
    if jar is None:
        return 1
    sys.stdout.write(f"{jar}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
