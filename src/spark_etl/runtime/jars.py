"""The Spark connector jars: declared once in ``connectors.pom.xml`` (shipped beside this module),
resolved with Maven.

``resolve()`` copies the runtime closure of the pom's dependencies into a cache outside git
(``$SPARK_ETL_HOME/jars/<digest of the pom>/``, ``~/.cache/spark-etl`` by default), leaving out the
artifacts that the pyspark wheel already ships, so the session factory can put them on the classpath
without any network at run time. ``packages()`` gives the same coordinates in the form that
``spark-submit --packages`` and ``spark.jars.packages`` take, for clusters.

``SPARK_ETL_CONNECTORS_POM`` names a pom of a project's own (add a connector there: the cache is
keyed by the pom's content). Run as ``kedro jars resolve|packages|classpath``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from importlib.resources import files
from pathlib import Path

from spark_etl.exceptions import ConfigError, TransientError

logger = logging.getLogger(__name__)

_NS = {"m": "http://maven.apache.org/POM/4.0.0"}
_COMPLETE = ".complete"
_VERSIONED_JAR = re.compile(r"^(?P<artifact>.+?)-\d[\w.+-]*\.jar$")


POM_ENV = "SPARK_ETL_CONNECTORS_POM"


def default_pom() -> Path:
    """Where the connector coordinates are declared: ``$SPARK_ETL_CONNECTORS_POM``, else the pom
    shipped with spark-etl."""
    if os.environ.get(POM_ENV):
        return Path(os.environ[POM_ENV])
    return Path(str(files("spark_etl.runtime") / "connectors.pom.xml"))


def cache_home() -> Path:
    """The cache folder outside git (``$SPARK_ETL_HOME``, else ``~/.cache/spark-etl``)."""
    return Path(os.environ.get("SPARK_ETL_HOME", Path.home() / ".cache/spark-etl"))


def coordinates(pom: Path | None = None) -> list[str]:
    """The direct dependencies of the pom as ``group:artifact:version`` strings.

    Raises:
        ConfigError: if the pom is missing or a dependency lacks a group, artifact or version.
    """
    pom = pom or default_pom()
    if not pom.is_file():
        raise ConfigError(f"Connector pom '{pom}' not found: fix {POM_ENV} or unset it.")
    root = ET.parse(pom).getroot()
    props = {
        el.tag.split("}", 1)[1]: (el.text or "").strip()
        for el in root.findall("m:properties/*", _NS)
    }
    coords = []
    for dep in root.findall("m:dependencies/m:dependency", _NS):
        parts = [
            _substitute(dep.findtext(f"m:{tag}", "", _NS), props)
            for tag in ("groupId", "artifactId", "version")
        ]
        if not all(parts):
            raise ConfigError(f"A dependency in '{pom}' lacks a groupId, artifactId or version.")
        coords.append(":".join(parts))
    return coords


def packages(pom: Path | None = None) -> str:
    """The coordinates joined for ``spark-submit --packages`` / ``spark.jars.packages``."""
    return ",".join(coordinates(pom))


def excludes(pom: Path | None = None) -> str:
    """The ``group:artifact`` pairs the pom leaves out of its dependencies (those pyspark ships
    in another version), joined for ``spark-submit --exclude-packages`` /
    ``spark.jars.excludes``: Spark's own resolution of :func:`packages` then leaves them out
    too."""
    pom = pom or default_pom()
    root = ET.parse(pom).getroot()
    pairs = [
        f"{exclusion.findtext('m:groupId', '', _NS).strip()}:"
        f"{exclusion.findtext('m:artifactId', '', _NS).strip()}"
        for exclusion in root.findall("m:dependencies/m:dependency/m:exclusions/m:exclusion", _NS)
    ]
    return ",".join(dict.fromkeys(pairs))


def _substitute(text: str, props: dict[str, str]) -> str:
    return re.sub(r"\$\{([^}]+)\}", lambda m: props.get(m.group(1), m.group(0)), text.strip())


def cache_dir(pom: Path | None = None) -> Path:
    """The folder the pom's jars are resolved into: one per pom content, so edits re-resolve."""
    pom = pom or default_pom()
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()[:12]
    return cache_home() / "jars" / digest


def cached_jars(pom: Path | None = None) -> list[Path] | None:
    """The resolved jars if a complete resolution is cached, else ``None``."""
    pom = pom or default_pom()
    if not pom.is_file():
        return None
    folder = cache_dir(pom)
    if not (folder / _COMPLETE).is_file():
        return None
    return sorted(folder.glob("*.jar"))


def resolve(pom: Path | None = None) -> list[Path]:
    """Resolve the pom's runtime closure with Maven into the cache, once; return the jar paths.

    Raises:
        ConfigError: if Maven is not installed.
        TransientError: if Maven fails (most often: Maven Central could not be reached).
    """
    pom = pom or default_pom()
    jars = cached_jars(pom)
    if jars is not None:
        return jars
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ConfigError(
            "Maven ('mvn') is needed to resolve the Spark connector jars: install it "
            "(apt-get install maven) or run `make jars`."
        )
    folder = cache_dir(pom)
    staging = folder.with_name(folder.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    # Maven works beside the pom it builds (target/): a copy keeps an installed package untouched.
    build = folder.with_name(folder.name + ".build")
    shutil.rmtree(build, ignore_errors=True)
    build.mkdir(parents=True)
    shutil.copyfile(pom, build / "pom.xml")
    cmd = [
        mvn,
        "-q",
        "-B",
        "-f",
        str(build / "pom.xml"),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={staging}",
        "-DincludeScope=runtime",
    ]
    logger.info("Resolving Spark connector jars from %s into %s", pom, folder)
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    shutil.rmtree(build, ignore_errors=True)
    if result.returncode != 0:
        raise TransientError(
            f"Maven could not resolve the connector jars of '{pom}' "
            f"(exit {result.returncode}); check access to Maven Central:\n"
            f"{result.stdout[-2000:]}{result.stderr[-2000:]}"
        )
    _drop_jars_shipped_with_pyspark(staging)
    (staging / _COMPLETE).write_text("\n".join(coordinates(pom)) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
    return sorted(folder.glob("*.jar"))


def _drop_jars_shipped_with_pyspark(folder: Path) -> None:
    """Remove jars whose artifact pyspark already has, so one class never comes in two versions."""
    shipped = {_artifact(p.name) for p in pyspark_jars_dir().glob("*.jar")}
    for jar in folder.glob("*.jar"):
        if _artifact(jar.name) in shipped:
            jar.unlink()


def pyspark_jars_dir() -> Path:
    """The ``jars/`` folder of the installed pyspark wheel."""
    import pyspark  # noqa: PLC0415 - only needed when resolving

    return Path(pyspark.__file__).parent / "jars"


def _artifact(jar_name: str) -> str:
    match = _VERSIONED_JAR.match(jar_name)
    return match.group("artifact") if match else jar_name


def main(argv: list[str] | None = None) -> int:
    """``resolve`` (default), ``packages`` or ``classpath``: print what a deployment needs."""
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else "resolve"
    if command == "packages":
        sys.stdout.write(packages() + "\n")
    elif command == "excludes":
        sys.stdout.write(excludes() + "\n")
    elif command in ("resolve", "classpath"):
        jars = resolve()
        sep = ":" if command == "classpath" else "\n"
        sys.stdout.write(sep.join(str(j) for j in jars) + "\n")
    else:
        sys.stderr.write("usage: kedro jars [resolve|packages|excludes|classpath]\n")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
