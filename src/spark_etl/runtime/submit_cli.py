"""``kedro spark-etl submit``: run a pipeline of the packaged project on a cluster profile.

kedro spark-etl submit --cluster dev --pipeline batch_s3_pg             # spark-submit, waits
kedro spark-etl submit --cluster prod_k8s --pipeline P --dry-run        # only print the line
kedro spark-etl submit --cluster dev --pipeline P -- --params day=2026-12-01

The profile comes from ``conf/<env>/clusters.yml`` (:mod:`spark_etl.runtime.clusters`); the
packaged project from ``dist/`` (``make package``). Arguments after ``--`` go to the run. The
command's exit code is the run's (in client mode, the driver's; in cluster mode, what
``spark-submit`` reports of the application).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import click
from kedro.config import MissingConfigException
from kedro.framework.project import PACKAGE_NAME, settings

from spark_etl._suggest import did_you_mean
from spark_etl.exceptions import ConfigError
from spark_etl.runtime.clusters import (
    Artifacts,
    ClusterProfile,
    Submission,
    build,
    parse_clusters,
    spark_submit_path,
)


def project_config(key: str, env: str | None) -> dict[str, Any]:
    """``key`` of the project's configuration (``clusters``, ``schedules``), read by its config
    loader alone: no session, no Spark (empty when no file matches)."""
    loader = settings.CONFIG_LOADER_CLASS(
        conf_source=str(Path.cwd() / settings.CONF_SOURCE),
        env=env,
        **settings.CONFIG_LOADER_ARGS,
    )
    try:
        return dict(loader[key] or {})
    except (KeyError, MissingConfigException):
        return {}


def profiles(env: str | None) -> dict[str, ClusterProfile]:
    """The cluster profiles of the project's ``conf/<env>/clusters.yml``."""
    return parse_clusters(project_config("clusters", env))


def submission(
    cluster: str, pipeline: str, env: str | None, run_args: tuple[str, ...] = ()
) -> tuple[ClusterProfile, Submission]:
    """The profile named ``cluster`` and what runs ``pipeline`` on it.

    Raises:
        ConfigError: an unknown profile, one its manager cannot run, a missing ``dist/``.
    """
    found = profiles(env)
    if cluster not in found:
        names = ", ".join(sorted(found)) or "none"
        raise ConfigError(
            f"conf/{env or 'base'}/clusters.yml has no cluster profile '{cluster}'."
            f"{did_you_mean(cluster, found)} Profiles: {names}."
        )
    profile = found[cluster]
    artifacts = Artifacts.find(Path.cwd(), str(PACKAGE_NAME))
    args = ["--pipelines", pipeline, *(["--env", env] if env else []), *run_args]
    return profile, build(profile, artifacts, args, spark_submit=spark_submit_path())


@click.command(
    "submit",
    context_settings={"help_option_names": ["-h", "--help"], "ignore_unknown_options": True},
)
@click.option("--cluster", "-c", required=True, help="A profile of conf/<env>/clusters.yml.")
@click.option("--pipeline", "-p", required=True, help="The pipeline to run.")
@click.option("--env", "-e", default=None, help="Kedro environment (clusters.yml and the run).")
@click.option("--dry-run", is_flag=True, help="Print the commands; submit nothing.")
@click.argument("run_args", nargs=-1, type=click.UNPROCESSED)
def submit(
    cluster: str, pipeline: str, env: str | None, dry_run: bool, run_args: tuple[str, ...]
) -> None:
    """Run PIPELINE of the packaged project (dist/) on the cluster profile CLUSTER."""
    try:
        profile, job = submission(cluster, pipeline, env, run_args)
    except ConfigError as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(2) from None
    if dry_run:
        click.echo(job.shell())
        return
    click.echo(f"Submitting {pipeline} to {cluster} ({profile.kind}):\n{job.shell()}", err=True)
    for command in job.commands:
        try:
            done = subprocess.run(command, env={**os.environ, **job.env}, cwd=job.cwd, check=False)
        except FileNotFoundError:
            click.echo(
                f"Error: `{command[0]}` is not installed here. "
                + (
                    "An EMR step needs the AWS CLI (pip install awscli, and credentials for "
                    "the cluster's account); or run the commands above where it is."
                    if command[0] == "aws"
                    else "Set SPARK_HOME to a Spark distribution, or install pyspark."
                ),
                err=True,
            )
            raise SystemExit(2) from None
        if done.returncode != 0:
            raise SystemExit(done.returncode)
