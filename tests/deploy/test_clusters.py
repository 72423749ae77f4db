"""Cluster profiles rendered into the commands each cluster manager takes, checked against what
that manager requires (YARN, Kubernetes and EMR are not reachable here: their lines are checked,
not run; the standalone profile runs for real in tests/deploy/test_spark_submit.py)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from kedro_run import spark_etl_command

from spark_etl.exceptions import ConfigError
from spark_etl.runtime import jars
from spark_etl.runtime.clusters import Artifacts, ClusterProfile, build, parse_clusters

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "example"
PACKAGE = "spark_etl_example"
EXAMPLE_PROFILES = parse_clusters(
    yaml.safe_load(
        (EXAMPLE / "conf" / "base" / "clusters.yml")
        .read_text()
        .replace('${oc.env:SPARK_ETL_SPARK_MASTER_PORT,"27077"}', "27077")
    )
)


@pytest.fixture
def dist(tmp_path: Path) -> Artifacts:
    """A project folder whose dist/ holds what `make package` writes."""
    folder = tmp_path / "dist"
    folder.mkdir()
    for name in (
        f"{PACKAGE}-0.1.0-py3-none-any.whl",
        f"conf-{PACKAGE}.tar.gz",
        f"schemas-{PACKAGE}.tar.gz",
        f"{PACKAGE}_entry.py",
    ):
        (folder / name).write_text("")
    (folder / "packages.txt").write_text("org.apache.spark:spark-avro_2.13:4.2.0\n")
    return Artifacts.find(tmp_path, PACKAGE)


def line(profile: str | ClusterProfile, dist: Artifacts) -> list[str]:
    chosen = EXAMPLE_PROFILES[profile] if isinstance(profile, str) else profile
    (command,) = build(
        chosen, dist, ["--pipelines", "batch_s3_pg"], local_jars=lambda: [Path("/m2/a.jar")]
    ).commands
    return command


def confs(command: list[str]) -> dict[str, str]:
    return dict(command[i + 1].split("=", 1) for i, arg in enumerate(command) if arg == "--conf")


def flag(command: list[str], name: str) -> str | None:
    return command[command.index(name) + 1] if name in command else None


def test_packages_leave_out_what_the_connectors_pom_excludes(dist: Artifacts) -> None:
    """The pom's exclusions (Delta's older Hadoop, Parquet, Jackson...) reach spark-submit as
    --exclude-packages, so Spark's own resolution leaves them out as Maven's does."""
    excluded = jars.excludes()
    assert "org.apache.hadoop:hadoop-client-runtime" in excluded.split(",")
    assert "com.fasterxml.jackson.core:jackson-databind" in excluded.split(",")
    assert "io.delta:delta-spark_2.13:4.4.0" in jars.packages().split(",")
    assert line("yarn", dist).count("--exclude-packages") == 0  # a dist/ without excludes.txt
    (dist.dist / "excludes.txt").write_text(excluded + "\n")
    command = line("yarn", Artifacts.find(dist.dist.parent, PACKAGE))
    assert flag(command, "--exclude-packages") == excluded


def test_the_example_ships_a_profile_of_every_kind() -> None:
    assert {p.kind for p in EXAMPLE_PROFILES.values()} == {
        "local",
        "standalone",
        "yarn",
        "kubernetes",
        "emr",
    }


def test_standalone_runs_the_driver_here_with_this_python(dist: Artifacts) -> None:
    job = build(
        EXAMPLE_PROFILES["standalone"],
        dist,
        ["--pipelines", "batch_s3_pg"],
        local_jars=lambda: [Path("/m2/a.jar"), Path("/m2/b.jar")],
    )
    (command,) = job.commands
    assert command[:5] == [
        "spark-submit",
        "--master",
        "spark://127.0.0.1:27077",
        "--deploy-mode",
        "client",
    ]
    assert flag(command, "--total-executor-cores") == "2" and "--num-executors" not in command
    assert flag(command, "--jars") == "/m2/a.jar,/m2/b.jar"  # connectors: jars
    assert flag(command, "--py-files") == str(dist.wheel)
    assert command[-5:] == [
        str(dist.entry),
        "--pipelines",
        "batch_s3_pg",
        "--conf-source",
        str(dist.conf),
    ]
    assert job.env["PYSPARK_PYTHON"] == job.env["PYSPARK_DRIVER_PYTHON"] == sys.executable
    assert job.cwd == dist.dist.parent  # schemas/ and conf/base/pipelines of the project


def test_yarn_cluster_mode_ships_the_environment_conf_schemas_and_vault(dist: Artifacts) -> None:
    command = line("yarn", dist)
    assert command[1:5] == ["--master", "yarn", "--deploy-mode", "cluster"]
    assert flag(command, "--queue") == "etl" and flag(command, "--num-executors") == "4"
    assert flag(command, "--packages") == "org.apache.spark:spark-avro_2.13:4.2.0"
    assert flag(command, "--archives") == (
        f"spark_etl_env.tar.gz#env,{dist.schemas}#schemas,{dist.conf}#confarchive"
    )
    assert flag(command, "--files") == ("/secure/credentials.vault,/secure/spark-etl-vault.key")
    conf = confs(command)
    master_env = {
        k.removeprefix("spark.yarn.appMasterEnv."): v
        for k, v in conf.items()
        if k.startswith("spark.yarn.appMasterEnv.")
    }
    assert master_env == {
        "PYSPARK_PYTHON": "./env/bin/python",  # the unpacked venv-pack archive
        "SPARK_ETL_SCHEMAS_DIR": "schemas",
        "SPARK_ETL_PIPELINES_DIR": "confarchive/conf/base/pipelines",
        "SPARK_ETL_VAULT_PATH": "credentials.vault",  # --files puts them in the working folder
        "SPARK_ETL_VAULT_KEY_FILE": "spark-etl-vault.key",
    }
    assert conf["spark.executorEnv.PYSPARK_PYTHON"] == "./env/bin/python"
    assert command[-2:] == ["--conf-source", "confarchive/conf"]
    assert "PASSPHRASE" not in " ".join(command)  # a secret is never in the line


def test_kubernetes_reads_dist_from_the_image_and_the_vault_from_secrets(
    dist: Artifacts,
) -> None:
    command = line("kubernetes", dist)
    assert command[1:5] == [
        "--master",
        "k8s://https://k8s.example.com:6443",
        "--deploy-mode",
        "cluster",
    ]
    conf = confs(command)
    assert conf["spark.kubernetes.container.image"] == (
        "registry.example.com/spark-etl-example:0.1.0"
    )
    assert conf["spark.kubernetes.namespace"] == "etl"
    assert conf["spark.kubernetes.authenticate.driver.serviceAccountName"] == "spark"
    assert conf["spark.kubernetes.driver.secrets.spark-etl-vault"] == "/etc/spark-etl"
    assert conf["spark.kubernetes.driver.secretKeyRef.SPARK_ETL_VAULT_PASSPHRASE"] == (
        "spark-etl-vault:passphrase"
    )
    assert conf["spark.kubernetes.driverEnv.SPARK_ETL_VAULT_PATH"] == (
        "/etc/spark-etl/credentials.vault"  # in the mounted secret: nothing shipped
    )
    assert conf["spark.kubernetes.driverEnv.SPARK_ETL_SCHEMAS_DIR"] == "/opt/spark-etl/schemas"
    assert "--files" not in command and "--py-files" not in command
    assert "--packages" not in command and "--jars" not in command  # connectors: image
    assert command[-5] == f"local:///opt/spark-etl/{PACKAGE}_entry.py"
    assert command[-2:] == ["--conf-source", f"/opt/spark-etl/conf-{PACKAGE}.tar.gz"]


def test_kubernetes_without_artifacts_in_the_image_uploads_dist(dist: Artifacts) -> None:
    profile = ClusterProfile(
        kind="kubernetes",
        master="k8s://https://api:6443",
        image="spark:4.2.0-python3",
        upload_path="s3a://bucket/uploads",
    )
    command = line(profile, dist)
    assert confs(command)["spark.kubernetes.file.upload.path"] == "s3a://bucket/uploads"
    assert flag(command, "--archives") == f"{dist.schemas}#schemas,{dist.conf}#confarchive"
    assert flag(command, "--py-files") == str(dist.wheel)


def test_emr_syncs_dist_then_adds_a_spark_step(dist: Artifacts) -> None:
    job = build(EXAMPLE_PROFILES["emr"], dist, ["--pipelines", "batch_s3_pg"])
    upload, add = job.commands
    assert upload == [
        "aws",
        "s3",
        "sync",
        str(dist.dist),
        "s3://example-bucket/spark-etl/",
        "--region",
        "eu-west-1",
    ]
    assert add[:7] == [
        "aws",
        "emr",
        "add-steps",
        "--cluster-id",
        "j-EXAMPLE12345",
        "--region",
        "eu-west-1",
    ]
    (step,) = json.loads(flag(add, "--steps") or "")
    assert (step["Type"], step["Name"], step["ActionOnFailure"]) == (
        "Spark",
        "spark-etl batch_s3_pg",
        "CONTINUE",
    )
    args = step["Args"]  # command-runner's spark-submit arguments
    assert args[:4] == ["--master", "yarn", "--deploy-mode", "cluster"]
    assert (
        flag(args, "--py-files")
        == f"s3://example-bucket/spark-etl/{PACKAGE}-0.1.0-py3-none-any.whl"
    )
    assert flag(args, "--archives") == (
        "s3://example-bucket/spark-etl/spark_etl_env.tar.gz#env,"
        f"s3://example-bucket/spark-etl/schemas-{PACKAGE}.tar.gz#schemas,"
        f"s3://example-bucket/spark-etl/conf-{PACKAGE}.tar.gz#confarchive"
    )
    assert args[-5] == f"s3://example-bucket/spark-etl/{PACKAGE}_entry.py"
    assert "s3://example-bucket/secure/spark-etl-vault.key" in (flag(args, "--files") or "")


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        (
            {"kind": "standalone", "master": "spark://m:7077", "deploy_mode": "cluster"},
            "a standalone master cannot run a Python application in cluster mode",
        ),
        (
            {"kind": "standalone", "master": "spark://m:7077", "resources": {"num_executors": 2}},
            "resources.num_executors is YARN's and Kubernetes'",
        ),
        ({"kind": "standalone"}, "kind standalone needs master: spark://host:7077"),
        ({"kind": "yarn"}, "a driver in a YARN container needs the Python environment"),
        ({"kind": "kubernetes", "master": "k8s://https://a:6443"}, "kind kubernetes needs image"),
        (
            {"kind": "kubernetes", "master": "k8s://https://a:6443", "image": "i"},
            "a driver pod cannot read dist/ here: set artifacts",
        ),
        ({"kind": "emr", "python_env": "s3://b/e.tgz"}, "kind emr needs cluster_id"),
        ({"kind": "local", "deploy_mode": "cluster"}, "deploy_mode must be client"),
        (
            {"kind": "yarn", "deploy_mode": "client", "vault": {"passphrase_secret": "s:k"}},
            "vault.passphrase_secret names a Kubernetes secret",
        ),
        ({"kind": "mesos"}, r"clusters\.bad\.kind: Input should be 'local', 'standalone'"),
        (
            {"kind": "local", "memory": "2g"},
            r"clusters\.bad\.memory: Extra inputs are not permitted",
        ),
    ],
)
def test_what_a_manager_cannot_do_is_refused_with_the_way_out(
    settings: dict[str, Any], problem: str
) -> None:
    with pytest.raises(
        ConfigError, match=rf"^Invalid cluster profile in clusters.yml: .*{problem}"
    ):
        parse_clusters({"clusters": {"bad": settings}})


def test_a_project_not_packaged_is_told_to_package(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"dist lacks spark_etl_example-<version>-py3-none-any.whl, conf-"
    ):
        Artifacts.find(tmp_path, PACKAGE)


def run_submit(*args: str) -> subprocess.CompletedProcess[str]:
    return spark_etl_command("submit", *args)


def test_dry_run_prints_the_line_and_an_unknown_profile_is_named() -> None:
    subprocess.run(
        ["make", "-s", "package"], cwd=REPO, check=True, capture_output=True, timeout=600
    )
    shown = run_submit("--cluster", "standalone", "--pipeline", "batch_s3_pg", "--dry-run")
    assert shown.returncode == 0, shown.stderr
    (printed,) = shown.stdout.strip().splitlines()
    words = shlex.split(printed)
    assert words[0].startswith("PYSPARK_DRIVER_PYTHON=") and words[1].startswith("PYSPARK_PYTHON=")
    assert words[2].endswith("/bin/spark-submit")
    port = os.environ.get("SPARK_ETL_SPARK_MASTER_PORT", "27077")
    assert words[3:7] == ["--master", f"spark://127.0.0.1:{port}", "--deploy-mode", "client"]
    assert words[-4:-2] == ["--pipelines", "batch_s3_pg"]

    wrong = run_submit("--cluster", "standlone", "--pipeline", "batch_s3_pg", "--dry-run")
    assert wrong.returncode == 2
    assert wrong.stderr.strip() == (
        "Error: conf/base/clusters.yml has no cluster profile 'standlone'. Did you mean "
        "'standalone'? Profiles: emr, kubernetes, local, standalone, yarn."
    )
