"""Build spark-etl's JVM helper jar from ``jvm/src`` (run by the wheel build and by ``make jars``).

The Java sources are compiled with ``javac --release 17`` against Hadoop's client API (the jar the
installed pyspark ships, else the one of the same version from Maven Central) into
``src/spark_etl/runtime/spark-etl-localfs.jar``, which the wheel carries as package data. The
jar records a digest of its sources and of the API jar's name: an up-to-date jar is not built
again. Standard library only: the wheel build runs it before any dependency is installed.

    python jvm/build_jar.py        # build if out of date; print the jar's path
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "src"
JAR = HERE.parent / "src" / "spark_etl" / "runtime" / "spark-etl-localfs.jar"
CONNECTORS_POM = HERE.parent / "src" / "spark_etl" / "runtime" / "connectors.pom.xml"
JAVA_RELEASE = "17"
_DIGEST_ENTRY = "META-INF/spark-etl-sources.sha256"
_POM_NS = {"m": "http://maven.apache.org/POM/4.0.0"}


class BuildError(Exception):
    """The helper could not be built (no javac, no Hadoop API jar, a compile error)."""


def digest(source_dir: Path, files: list[Path], api_jar_name: str) -> str:
    """What the jar is built from: the sources' names and bytes, and the API jar's name."""
    sha = hashlib.sha256(api_jar_name.encode())
    for path in files:
        sha.update(path.relative_to(source_dir).as_posix().encode())
        sha.update(path.read_bytes())
    return sha.hexdigest()


def built_digest(jar: Path) -> str | None:
    """The source digest a built jar records, if any."""
    if not jar.is_file():
        return None
    with zipfile.ZipFile(jar) as archive:
        try:
            return archive.read(_DIGEST_ENTRY).decode().strip()
        except KeyError:
            return None


def hadoop_version(pom: Path = CONNECTORS_POM) -> str:
    """The Hadoop version the connectors are declared for (the pinned pyspark's)."""
    found = ET.parse(pom).getroot().find("m:properties/m:hadoop.version", _POM_NS)
    if found is None or not (found.text or "").strip():
        raise BuildError(f"{pom} declares no hadoop.version property")
    return found.text.strip()


def hadoop_api_jar(work: Path) -> Path:
    """Hadoop's client API: from the installed pyspark, else resolved with Maven into ``work``."""
    spec = importlib.util.find_spec("pyspark")
    for location in (spec.submodule_search_locations or []) if spec else []:
        found = sorted(Path(location, "jars").glob("hadoop-client-api-*.jar"))
        if found:
            return found[-1]
    mvn = shutil.which("mvn")
    if mvn is None:
        raise BuildError(
            "Neither pyspark nor Maven ('mvn') is installed: no Hadoop API to build on"
        )
    version = hadoop_version()
    artifact = f"org.apache.hadoop:hadoop-client-api:{version}"
    subprocess.run(
        [mvn, "-q", "-B", "dependency:copy", f"-Dartifact={artifact}", f"-DoutputDirectory={work}"],
        check=True,
        capture_output=True,
        text=True,
    )
    return work / f"hadoop-client-api-{version}.jar"


def javac() -> str:
    """The JDK's compiler (``$JAVA_HOME/bin/javac``, else the one on the PATH)."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "javac").is_file():
        return str(Path(java_home) / "bin" / "javac")
    found = shutil.which("javac")
    if found is None:
        raise BuildError("No javac: install a JDK (apt-get install openjdk-17-jdk-headless)")
    return found


def build(jar: Path = JAR, source_dir: Path = SOURCES) -> Path:
    """Compile the sources of ``source_dir`` into ``jar`` unless it is up to date; return it.

    Raises:
        BuildError: naming what is missing, or the compiler's output.
    """
    files = sorted(source_dir.rglob("*.java"))
    if not files:
        raise BuildError(f"No Java sources under {source_dir}")
    with tempfile.TemporaryDirectory() as tmp:
        api = hadoop_api_jar(Path(tmp))
        wanted = digest(source_dir, files, api.name)
        if built_digest(jar) == wanted:
            return jar
        classes = Path(tmp) / "classes"
        compiled = subprocess.run(
            [javac(), "--release", JAVA_RELEASE, "-nowarn", "-cp", str(api), "-d", str(classes)]
            + [str(f) for f in files],
            capture_output=True,
            text=True,
            check=False,
        )
        if compiled.returncode != 0:
            raise BuildError(f"javac failed:\n{compiled.stdout}{compiled.stderr}")
        partial = Path(tmp) / jar.name
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as out:
            out.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\nCreated-By: spark-etl\n")
            out.writestr(_DIGEST_ENTRY, wanted + "\n")
            for path in sorted(classes.rglob("*.class")):
                out.write(path, path.relative_to(classes).as_posix())
        jar.parent.mkdir(parents=True, exist_ok=True)
        placed = jar.with_suffix(".jar.partial")
        shutil.copyfile(partial, placed)
        placed.replace(jar)  # whole or not at all
    return jar


def main() -> int:
    """Build, print the jar's path; a failure is one message, exit code 1."""
    try:
        sys.stdout.write(f"{build()}\n")
    except (BuildError, subprocess.CalledProcessError, OSError) as exc:
        sys.stderr.write(f"jvm/build_jar.py: error: {exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
