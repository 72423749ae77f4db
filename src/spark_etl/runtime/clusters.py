"""Cluster profiles (``conf/<env>/clusters.yml``) and the ``spark-submit`` line each one makes.

::

    clusters:
      dev:                                  # kedro spark-etl submit --cluster dev --pipeline P
        kind: standalone                    # local | standalone | yarn | kubernetes | emr
        master: spark://spark-master:7077
        resources: {executor_memory: 4g, total_executor_cores: 8}
        conf: {spark.sql.shuffle.partitions: 64}
        env: {SPARK_ETL_PG_URL: "jdbc:postgresql://db:5432/etl"}

A profile turns the packaged project (``make package``: ``dist/``) into the command that runs a
pipeline there, with what its cluster manager needs: the Python environment of a driver in a
container, the archives of ``conf/`` and ``schemas/``, the vault and its key, the image and
secrets of Kubernetes, the step of an EMR cluster. What a manager cannot do is refused with the
reason before anything is submitted (a Python application in cluster mode on a standalone
master; a YARN driver in a container without a packed environment; a Kubernetes driver without
an image). Secrets are never written into the line: they are named (a Kubernetes secret, a key
file shipped with ``--files``) or come from the submitting process's environment.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import pyspark
from pydantic import BaseModel, ConfigDict, Field, model_validator

from spark_etl._validation import validated_entries
from spark_etl.exceptions import ConfigError
from spark_etl.runtime import jars

Kind = Literal["local", "standalone", "yarn", "kubernetes", "emr"]
DeployMode = Literal["client", "cluster"]
#: Where the archives are unpacked in a driver's container (``--archives x#name``).
ENV_DIR, SCHEMAS_DIR, CONF_DIR = "env", "schemas", "confarchive"


class Resources(BaseModel):
    """What the application asks of the cluster (``spark-submit``'s resource flags)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    driver_memory: str | None = None
    driver_cores: int | None = Field(default=None, ge=1)
    executor_memory: str | None = None
    executor_cores: int | None = Field(default=None, ge=1)
    num_executors: int | None = Field(default=None, ge=1)
    total_executor_cores: int | None = Field(default=None, ge=1)


class VaultWiring(BaseModel):
    """How a driver on the cluster opens the project's vault (never the passphrase itself)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: the vault file: shipped with ``--files`` to a YARN container (a path or URI the
    #: submitting machine reads); in a pod, its path in a mounted secret
    file: str | None = None
    #: a file holding the vault's key, shipped or mounted as ``file``
    key_file: str | None = None
    #: Kubernetes: ``<secret>:<key>`` whose value becomes SPARK_ETL_VAULT_PASSPHRASE
    passphrase_secret: str | None = None


class ClusterProfile(BaseModel):
    """One entry of ``clusters.yml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Kind
    master: str | None = None
    deploy_mode: DeployMode | None = None
    resources: Resources = Resources()
    conf: dict[str, str | int | float | bool] = Field(default_factory=dict)
    #: environment of the driver (and executors): never secrets, which ``vault`` wires
    env: dict[str, str] = Field(default_factory=dict)
    #: how the connector jars arrive: ``--packages`` from Maven, ``--jars`` from the local cache,
    #: or already in the image
    connectors: Literal["packages", "jars", "image"] = "packages"
    vault: VaultWiring = VaultWiring()
    # YARN and EMR
    queue: str | None = None
    #: a packed Python environment (venv-pack) holding spark-etl and the project's wheel
    python_env: str | None = None
    # Kubernetes
    image: str | None = None
    namespace: str | None = None
    service_account: str | None = None
    #: Kubernetes secrets mounted in the driver: secret name -> mount path
    secret_mounts: dict[str, str] = Field(default_factory=dict)
    #: where ``spark-submit`` uploads the local dist/ files for a driver pod
    upload_path: str | None = None
    # Kubernetes (a folder in the image, local:///...) and EMR (an s3:// prefix): dist/'s files
    artifacts: str | None = None
    # EMR
    cluster_id: str | None = None
    region: str | None = None
    action_on_failure: Literal["CONTINUE", "CANCEL_AND_WAIT", "TERMINATE_CLUSTER"] = "CONTINUE"

    @model_validator(mode="after")
    def _fits_its_manager(self) -> ClusterProfile:
        for problem in _limits(self):
            raise ValueError(problem)
        return self

    @property
    def mode(self) -> DeployMode:
        """The deploy mode: the profile's, else the manager's usual one."""
        if self.deploy_mode is not None:
            return self.deploy_mode
        return "cluster" if self.kind in ("yarn", "kubernetes", "emr") else "client"

    @property
    def spark_master(self) -> str:
        """The ``--master`` of the profile."""
        if self.kind in ("yarn", "emr"):
            return "yarn"
        return self.master or "local[*]"


def _limits(p: ClusterProfile) -> list[str]:
    """What the profile's cluster manager cannot do, each with the way out."""
    found = _KIND_LIMITS[p.kind](p, p.mode)
    if p.kind != "kubernetes" and (p.image or p.namespace or p.secret_mounts):
        found.append("image, namespace and secret_mounts are Kubernetes settings")
    if p.kind not in ("yarn", "emr") and (p.queue or p.python_env):
        found.append("queue and python_env are YARN settings (and EMR's)")
    if p.vault.passphrase_secret and p.kind != "kubernetes":
        found.append(
            "vault.passphrase_secret names a Kubernetes secret: elsewhere ship vault.key_file, or "
            "give SPARK_ETL_VAULT_PASSPHRASE to the submitting process"
        )
    return found


def _local_limits(p: ClusterProfile, mode: DeployMode) -> list[str]:
    return ["kind local runs the driver here: deploy_mode must be client"] * (mode == "cluster")


def _standalone_limits(p: ClusterProfile, mode: DeployMode) -> list[str]:
    found = []
    if not (p.master or "").startswith("spark://"):
        found.append("kind standalone needs master: spark://host:7077")
    if mode == "cluster":
        found.append(
            "a standalone master cannot run a Python application in cluster mode (Spark's "
            "limit): use deploy_mode client, or YARN or Kubernetes"
        )
    if p.resources.num_executors is not None:
        found.append(
            "resources.num_executors is YARN's and Kubernetes': on a standalone master use "
            "total_executor_cores (and executor_cores)"
        )
    return found


def _yarn_limits(p: ClusterProfile, mode: DeployMode) -> list[str]:
    found = []
    if p.kind == "yarn" and p.master not in (None, "yarn"):
        found.append("kind yarn takes its master from HADOOP_CONF_DIR: leave master out")
    if mode == "cluster" and p.python_env is None:
        found.append(
            "a driver in a YARN container needs the Python environment: set python_env to a "
            "venv-pack archive holding spark-etl and the project's wheel"
        )
    if p.resources.total_executor_cores is not None:
        found.append("resources.total_executor_cores is a standalone setting: use num_executors")
    return found


def _kubernetes_limits(p: ClusterProfile, mode: DeployMode) -> list[str]:
    found = []
    if not (p.master or "").startswith("k8s://"):
        found.append("kind kubernetes needs master: k8s://https://<api-server>:<port>")
    if p.image is None:
        found.append("kind kubernetes needs image: the Spark image holding spark-etl")
    if mode == "cluster" and p.artifacts is None and p.upload_path is None:
        found.append(
            "a driver pod cannot read dist/ here: set artifacts (local:///<folder in the "
            "image>) or upload_path (s3a://..., where spark-submit uploads dist/'s files)"
        )
    if p.resources.total_executor_cores is not None:
        found.append("resources.total_executor_cores is a standalone setting: use num_executors")
    return found


def _emr_limits(p: ClusterProfile, mode: DeployMode) -> list[str]:
    found = _yarn_limits(p, mode)
    if p.master is not None:
        found.append("an EMR step runs on the cluster's YARN: leave master out")
    if p.cluster_id is None:
        found.append("kind emr needs cluster_id (j-...)")
    if not (p.artifacts or "").startswith("s3://"):
        found.append("kind emr needs artifacts: the s3:// prefix dist/ is uploaded to")
    if mode == "client":
        found.append("an EMR step runs its driver on the cluster: deploy_mode must be cluster")
    return found


_KIND_LIMITS: dict[str, Callable[[ClusterProfile, DeployMode], list[str]]] = {
    "local": _local_limits,
    "standalone": _standalone_limits,
    "yarn": _yarn_limits,
    "kubernetes": _kubernetes_limits,
    "emr": _emr_limits,
}


def parse_clusters(
    raw: dict[str, Any] | None, source: str = "clusters.yml"
) -> dict[str, ClusterProfile]:
    """The profiles of ``clusters.yml`` (its ``clusters`` mapping).

    Raises:
        ConfigError: naming the file, the profile, the key and the problem.
    """
    return validated_entries(
        ClusterProfile, raw, key="clusters", what="cluster profile", source=source
    )


@dataclass(frozen=True)
class Artifacts:
    """The packaged project in ``dist/`` (``make package``)."""

    dist: Path
    package: str
    wheel: Path
    conf: Path
    schemas: Path
    entry: Path
    packages: str
    #: ``group:artifact`` pairs Spark's resolution of ``packages`` leaves out (``excludes.txt``)
    excludes: str = ""

    @classmethod
    def find(cls, project: Path, package: str) -> Artifacts:
        """The files ``make package`` wrote for ``package``.

        Raises:
            ConfigError: naming what is missing and the command that builds it.
        """
        dist = project / "dist"
        wheels = sorted(dist.glob(f"{package}-*.whl"))
        wanted = {
            "conf": dist / f"conf-{package}.tar.gz",
            "schemas": dist / f"schemas-{package}.tar.gz",
            "entry": dist / f"{package}_entry.py",
            "packages": dist / "packages.txt",
        }
        missing = [p.name for p in wanted.values() if not p.is_file()]
        if not wheels:
            missing.insert(0, f"{package}-<version>-py3-none-any.whl")
        if missing:
            raise ConfigError(
                f"{dist} lacks {', '.join(missing)}: run `make package` in the project first "
                "(the packaged project is what a cluster runs)."
            )
        return cls(
            dist=dist,
            package=package,
            wheel=wheels[-1],
            conf=wanted["conf"],
            schemas=wanted["schemas"],
            entry=wanted["entry"],
            packages=_coordinates(wanted["packages"]),
            excludes=_exclusions(dist / "excludes.txt"),
        )


def _coordinates(listing: Path) -> str:
    """The Maven coordinates of ``packages.txt`` (``group:artifact:version``, comma-joined),
    whatever else a console wrote into the file.

    Raises:
        ConfigError: when it holds none.
    """
    found = re.findall(
        r"(?<![\w.\-/'])[A-Za-z][\w.\-]*:[A-Za-z][\w.\-]*:\d[\w.\-]*", listing.read_text()
    )
    if not found:
        raise ConfigError(
            f"{listing} lists no connector coordinates: run `make package` again (it writes "
            "`spark-etl jars packages` there)."
        )
    return ",".join(found)


def _exclusions(listing: Path) -> str:
    """The ``group:artifact`` pairs of ``excludes.txt`` (comma-joined; none without the file,
    as in a ``dist/`` built before it existed)."""
    if not listing.is_file():
        return ""
    pair = r"(?<![\w.\-/'])[A-Za-z][\w.\-]*:[A-Za-z][\w.\-]*(?![\w.\-]*:)"
    return ",".join(re.findall(pair, listing.read_text()))


@dataclass(frozen=True)
class Submission:
    """The commands that run a pipeline on a cluster, in order, with their environment."""

    commands: list[list[str]]
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None

    def shell(self) -> str:
        """The commands as a shell runs them, one a line (``--dry-run`` prints this)."""
        prefix = "".join(f"{k}={shlex.quote(v)} " for k, v in sorted(self.env.items()))
        return "\n".join(prefix + shlex.join(c) for c in self.commands)


def spark_submit_path() -> str:
    """``$SPARK_HOME/bin/spark-submit``, else the one of the installed pyspark."""
    home = os.environ.get("SPARK_HOME")
    if home:
        return str(Path(home) / "bin" / "spark-submit")
    return str(Path(pyspark.__file__).parent / "bin" / "spark-submit")


def build(
    profile: ClusterProfile,
    artifacts: Artifacts,
    run_args: list[str],
    *,
    spark_submit: str = "spark-submit",
    local_jars: Callable[[], list[Path]] = jars.resolve,
) -> Submission:
    """The submission of ``run_args`` (``kedro run`` arguments) on ``profile``'s cluster."""
    args = ["--master", profile.spark_master, "--deploy-mode", profile.mode]
    args += _resource_args(profile)
    if profile.queue:
        args += ["--queue", profile.queue]
    args += _connector_args(profile, artifacts, local_jars)
    conf: dict[str, str] = {k: _text(v) for k, v in profile.conf.items()}
    where = _Where(profile, artifacts)
    env: dict[str, str] = {}
    # a YARN container gets the vault with --files; a pod reads it from a mounted secret
    shipped = profile.mode == "cluster" and profile.kind != "kubernetes"
    vault = _vault_files(profile.vault, shipped=shipped)
    files = [f for f in (profile.vault.file, profile.vault.key_file) if f] if shipped else []
    if profile.mode == "cluster":
        driver_env, archives, conf_source = _driver_files(profile, artifacts, where)
        conf.update(_driver_env_conf(profile, {**driver_env, **vault, **profile.env}))
        if archives:
            args += ["--archives", ",".join(archives)]
    else:  # the driver runs here, with this Python and the project's own files
        env = {"PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
        env.update({**vault, **profile.env})
        conf_source = str(artifacts.conf)
    if profile.kind == "kubernetes":
        conf.update(_kubernetes_conf(profile))
    if files:
        args += ["--files", ",".join(files)]
    if not (profile.kind == "kubernetes" and where.in_image):
        args += ["--py-files", where.file(artifacts.wheel)]
    for key in sorted(conf):
        args += ["--conf", f"{key}={conf[key]}"]
    args += [where.file(artifacts.entry), *run_args, "--conf-source", conf_source]
    if profile.kind == "emr":
        return _emr_step(profile, artifacts, args, run_args)
    return Submission([[spark_submit, *args]], env, cwd=artifacts.dist.parent)


def _vault_files(vault: VaultWiring, shipped: bool) -> dict[str, str]:
    """The variables that point the driver at the vault and its key: the names ``--files``
    gives them in a container, else their paths here."""
    env = {}
    for variable, path in (
        ("SPARK_ETL_VAULT_PATH", vault.file),
        ("SPARK_ETL_VAULT_KEY_FILE", vault.key_file),
    ):
        if path:
            env[variable] = PurePosixPath(path).name if shipped else path
    return env


def _driver_files(
    profile: ClusterProfile, artifacts: Artifacts, where: _Where
) -> tuple[dict[str, str], list[str], str]:
    """A driver in a container: its environment, the archives it unpacks, its conf source."""
    if where.in_image:  # the image holds dist/'s files, conf/ and schemas/ unpacked beside them
        folder = where.folder()
        env = {
            "SPARK_ETL_SCHEMAS_DIR": f"{folder}/schemas",
            "SPARK_ETL_PIPELINES_DIR": f"{folder}/conf/base/pipelines",
        }
        return env, [], f"{folder}/{artifacts.conf.name}"
    archives = [
        f"{where.file(artifacts.schemas)}#{SCHEMAS_DIR}",
        f"{where.file(artifacts.conf)}#{CONF_DIR}",
    ]
    env = {
        "SPARK_ETL_SCHEMAS_DIR": SCHEMAS_DIR,
        "SPARK_ETL_PIPELINES_DIR": f"{CONF_DIR}/conf/base/pipelines",
    }
    if profile.python_env:
        archives.insert(0, f"{profile.python_env}#{ENV_DIR}")
        env["PYSPARK_PYTHON"] = f"./{ENV_DIR}/bin/python"
    return env, archives, f"{CONF_DIR}/conf"


class _Where:
    """Where the cluster reads dist/'s files: here, in the image, or under an S3 prefix."""

    def __init__(self, profile: ClusterProfile, artifacts: Artifacts) -> None:
        self.profile, self.artifacts = profile, artifacts
        self.in_image = profile.kind == "kubernetes" and (profile.artifacts or "").startswith(
            "local://"
        )

    def folder(self) -> str:
        return (self.profile.artifacts or "").removeprefix("local://").rstrip("/")

    def file(self, path: Path) -> str:
        if self.profile.kind == "emr" or self.in_image:
            return f"{(self.profile.artifacts or '').rstrip('/')}/{path.name}"
        return str(path)


def _text(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _resource_args(profile: ClusterProfile) -> list[str]:
    r = profile.resources
    flags = [
        ("--driver-memory", r.driver_memory),
        ("--driver-cores", r.driver_cores),
        ("--executor-memory", r.executor_memory),
        ("--executor-cores", r.executor_cores),
        ("--num-executors", r.num_executors),
        ("--total-executor-cores", r.total_executor_cores),
    ]
    args: list[str] = []
    for flag, value in flags:
        if value is not None:
            args += [flag, str(value)]
    return args


def _connector_args(
    profile: ClusterProfile, artifacts: Artifacts, local_jars: Callable[[], list[Path]]
) -> list[str]:
    if profile.connectors == "image":
        return []
    if profile.connectors == "jars":
        return ["--jars", ",".join(str(p) for p in local_jars())]
    excluded = ["--exclude-packages", artifacts.excludes] if artifacts.excludes else []
    return ["--packages", artifacts.packages, *excluded]


def _driver_env_conf(profile: ClusterProfile, env: dict[str, str]) -> dict[str, str]:
    """Environment of a driver in a container, as the manager's settings say it."""
    prefix = (
        "spark.kubernetes.driverEnv."
        if profile.kind == "kubernetes"
        else "spark.yarn.appMasterEnv."
    )
    conf = {f"{prefix}{k}": v for k, v in env.items()}
    if "PYSPARK_PYTHON" in env:
        conf["spark.executorEnv.PYSPARK_PYTHON"] = env["PYSPARK_PYTHON"]
    return conf


def _kubernetes_conf(profile: ClusterProfile) -> dict[str, str]:
    conf = {"spark.kubernetes.container.image": str(profile.image)}
    if profile.namespace:
        conf["spark.kubernetes.namespace"] = profile.namespace
    if profile.service_account:
        conf["spark.kubernetes.authenticate.driver.serviceAccountName"] = profile.service_account
    if profile.upload_path:
        conf["spark.kubernetes.file.upload.path"] = profile.upload_path
    for secret, path in profile.secret_mounts.items():
        conf[f"spark.kubernetes.driver.secrets.{secret}"] = path
    if profile.vault.passphrase_secret:
        conf["spark.kubernetes.driver.secretKeyRef.SPARK_ETL_VAULT_PASSPHRASE"] = (
            profile.vault.passphrase_secret
        )
    return conf


def _emr_step(
    profile: ClusterProfile, artifacts: Artifacts, args: list[str], run_args: list[str]
) -> Submission:
    """``aws s3 sync`` of dist/ to the artifacts prefix, then the EMR step of the submission."""
    pipeline = _pipeline_of(run_args)
    step = {
        "Type": "Spark",
        "Name": f"spark-etl {pipeline}",
        "ActionOnFailure": profile.action_on_failure,
        "Args": args,
    }
    region = ["--region", profile.region] if profile.region else []
    upload = ["aws", "s3", "sync", str(artifacts.dist), str(profile.artifacts), *region]
    add = [
        "aws",
        "emr",
        "add-steps",
        "--cluster-id",
        str(profile.cluster_id),
        *region,
        "--steps",
        json.dumps([step]),
    ]
    return Submission([upload, add], {}, cwd=artifacts.dist.parent)


def _pipeline_of(run_args: list[str]) -> str:
    for flag in ("--pipelines", "--pipeline", "-p"):
        if flag in run_args and run_args.index(flag) + 1 < len(run_args):
            return run_args[run_args.index(flag) + 1]
    return "__default__"
