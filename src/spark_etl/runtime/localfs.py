"""The local filesystem with permissions set in-process, for local-mode sessions.

Hadoop without its native library (``libhadoop.so``, which Maven Central does not ship) sets the
permissions of every file it creates on the local disk by forking a ``chmod`` process. A streaming
query creates several such files per micro-batch (the offset and commit logs, a state delta and its
checksum per state partition), and a fork took 10-20 ms here, more on a busy machine.

``jvm/src/io/spark_etl/hadoop/`` holds Hadoop's checksummed ``file:`` filesystem with one method
changed: ``setPermission`` sets the same nine bits through ``java.nio`` (Hadoop's own path stays
for the sticky bit, with the native library, and off POSIX). :func:`helper_jar` compiles it once
into the cache outside git (``$SPARK_ETL_HOME/jvm/<digest>/``, with ``javac``), and
:func:`session_conf` puts it on the sessions spark-etl starts in local mode, where the driver and
the executors share one JVM:

* ``spark.driver.extraClassPath``: the jar, so every class loader of that JVM sees it;
* ``spark.hadoop.fs.file.impl``: ``io.spark_etl.hadoop.InProcessLocalFileSystem``.

Nothing changes when the session runs on a cluster (its checkpoints live on HDFS or S3), under
``spark-submit``, or when ``spark.yml`` sets ``spark.hadoop.fs.file.impl`` itself; without
``javac`` or a checkout the session keeps Hadoop's filesystem, with a warning.

Run as ``python -m spark_etl.runtime.localfs`` to build the jar and print its path.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path

from spark_etl.runtime.jars import cache_home, project_root, pyspark_jars_dir

logger = logging.getLogger(__name__)

FILESYSTEM_CLASS = "io.spark_etl.hadoop.InProcessLocalFileSystem"
FS_IMPL_KEY = "spark.hadoop.fs.file.impl"
CLASSPATH_KEY = "spark.driver.extraClassPath"
_JAR_NAME = "spark-etl-localfs.jar"
_JAVA_RELEASE = "17"


def source_dir() -> Path:
    """The Java sources of the helper (in a checkout)."""
    return project_root() / "jvm" / "src"


def helper_jar() -> Path | None:
    """The compiled helper jar, built on first use; ``None`` when it cannot be built (no sources
    beside an installed wheel, no ``javac``, a failed compile: logged)."""
    sources = sorted(source_dir().rglob("*.java"))
    api_jars = sorted(pyspark_jars_dir().glob("hadoop-client-api-*.jar"))
    if not sources or not api_jars:
        logger.debug("No sources or no hadoop-client-api jar: the local filesystem is Hadoop's")
        return None
    digest = hashlib.sha256(api_jars[-1].name.encode())
    for source in sources:
        digest.update(source.read_bytes())
    jar = cache_home() / "jvm" / digest.hexdigest()[:12] / _JAR_NAME
    if jar.is_file():
        return jar
    javac = _javac()
    if javac is None:
        logger.warning(
            "No javac found (install a JDK, e.g. apt-get install openjdk-17-jdk-headless): "
            "local files keep Hadoop's permission setting, one forked chmod per file"
        )
        return None
    try:
        _compile(javac, sources, api_jars[-1], jar)
    except (OSError, subprocess.CalledProcessError) as exc:
        output = getattr(exc, "stderr", "") or ""
        logger.warning(
            "Could not build %s (%s) %s: local files keep Hadoop's permission setting",
            jar,
            exc,
            output[-2000:],
        )
        return None
    return jar


def _javac() -> str | None:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "javac").is_file():
        return str(Path(java_home) / "bin" / "javac")
    return shutil.which("javac")


def _compile(javac: str, sources: list[Path], api_jar: Path, jar: Path) -> None:
    """Compile ``sources`` against Hadoop's API into ``jar`` (written whole, then renamed)."""
    jar.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=jar.parent) as tmp:
        classes = Path(tmp) / "classes"
        subprocess.run(
            [javac, "--release", _JAVA_RELEASE, "-nowarn", "-cp", str(api_jar), "-d", str(classes)]
            + [str(s) for s in sources],
            check=True,
            capture_output=True,
            text=True,
        )
        partial = Path(tmp) / _JAR_NAME
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as out:
            out.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\nCreated-By: spark-etl\n")
            for path in sorted(classes.rglob("*.class")):
                out.write(path, path.relative_to(classes).as_posix())
        partial.replace(jar)
    logger.info("Built %s", jar)


def session_conf(settings: Mapping[str, str], jvm_running: bool) -> dict[str, str]:
    """The properties that put the in-process filesystem on a new session with ``settings``:
    empty unless its master is local, ``spark.yml`` leaves ``fs.file.impl`` alone and the jar
    can be built. ``jvm_running``: a JVM of an earlier session is up (its class path is fixed, so
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
    """Build the jar and print its path (exit 1 if it cannot be built)."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    jar = helper_jar()
    if jar is None:
        return 1
    sys.stdout.write(f"{jar}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
