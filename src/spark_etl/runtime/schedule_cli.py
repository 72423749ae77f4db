"""What orchestrators call: DAGs from ``schedules.yml``, a file-arrival check, a notification.

kedro spark-etl airflow [--target-dir dags/]          # one DAG file per schedule
kedro spark-etl arrived --dataset D --since ISO-TIME  # exit 0 once D's folder has a newer file
kedro spark-etl notify EVENT --value key=value ...    # through notifications.yml's channels
"""

from __future__ import annotations

import logging
import shutil
import sys
from datetime import datetime
from pathlib import Path

import click
from kedro.framework.project import PACKAGE_NAME, pipelines
from kedro.framework.session import KedroSession

from spark_etl.datasets import S3Dataset
from spark_etl.exceptions import ConfigError
from spark_etl.runtime.clusters import parse_clusters
from spark_etl.runtime.notify import Notifier, parse_settings
from spark_etl.runtime.schedules import check_names, dag_file, parse_schedules, render_dag
from spark_etl.runtime.submit_cli import project_config

logger = logging.getLogger(__name__)
_env = click.option("--env", "-e", default=None, help="Kedro environment of the project's conf.")


def _fail(exc: Exception, code: int = 2) -> None:
    click.echo(f"Error: {exc}", err=True)
    raise SystemExit(code) from None


def _s3_entries(env: str | None) -> set[str]:
    """Catalog entries whose type is an S3Dataset (read from the conf, nothing built)."""
    catalog = project_config("catalog", env)
    return {
        name
        for name, entry in catalog.items()
        if isinstance(entry, dict) and str(entry.get("type", "")).endswith("S3Dataset")
    }


@click.command("airflow", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--target-dir", default="dags", show_default=True, help="Where the DAGs go.")
@click.option(
    "--kedro",
    "kedro_path",
    default=None,
    help="The kedro executable the tasks run (default: this one).",
)
@click.option(
    "--project-dir",
    default=None,
    help="The project's folder on the Airflow workers (default: this one).",
)
@_env
def airflow(
    target_dir: str, kedro_path: str | None, project_dir: str | None, env: str | None
) -> None:
    """Write one Airflow DAG per schedule of conf/<env>/schedules.yml."""
    try:
        schedules = parse_schedules(project_config("schedules", env))
        if not schedules:
            raise ConfigError(
                f"conf/{env or 'base'}/schedules.yml defines no schedule: add schedules: "
                "{nightly: {cron: ..., cluster: ..., pipelines: {...}}}."
            )
        channels = set(parse_settings(project_config("notifications", env)).channels)
        check_names(
            schedules,
            pipelines={n for n in pipelines if n != "__default__"},
            clusters=set(parse_clusters(project_config("clusters", env))),
            channels=channels,
            s3_datasets=_s3_entries(env),
        )
    except ConfigError as exc:
        _fail(exc)
    kedro = kedro_path or shutil.which("kedro") or str(Path(sys.executable).parent / "kedro")
    folder = Path(target_dir)
    folder.mkdir(parents=True, exist_ok=True)
    for name, schedule in schedules.items():
        path = dag_file(folder, name)
        path.write_text(
            render_dag(
                name,
                schedule,
                project_dir=Path(project_dir or Path.cwd()).resolve(),
                kedro=kedro,
                project=str(PACKAGE_NAME),
                env=env,
            )
        )
        click.echo(f"{path}: DAG spark_etl_{name} ({', '.join(schedule.pipelines)})")


@click.command("arrived", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--dataset", "-d", required=True, help="An S3Dataset of the catalog.")
@click.option("--since", required=True, help="An ISO time: files modified after it count.")
@_env
def arrived(dataset: str, since: str, env: str | None) -> None:
    """Exit 0 when DATASET's folder holds a file modified after SINCE, else 1."""
    try:
        moment = datetime.fromisoformat(since)
    except ValueError:
        _fail(ConfigError(f"--since '{since}' is not an ISO time (2026-12-01T02:00:00+00:00)."))
    session = KedroSession.create(env=env)
    with session:
        catalog = session.load_context().catalog
        found = catalog.get(dataset) if dataset in catalog else None
        if not isinstance(found, S3Dataset):
            _fail(ConfigError(f"Catalog entry '{dataset}' is not an S3Dataset."))
        assert isinstance(found, S3Dataset)
        new = found.files_modified_since(int(moment.timestamp() * 1000))
    if not new:
        click.echo(f"{dataset}: no file modified after {since}")
        raise SystemExit(1)
    shown = ", ".join(new[:5]) + (f" and {len(new) - 5} more" if len(new) > 5 else "")
    click.echo(f"{dataset}: {len(new)} file(s) modified after {since}: {shown}")


@click.command("notify", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("event", type=click.Choice(["schedule_failed", "sla_missed", "run_failed"]))
@click.option("--channel", "channels", multiple=True, help="A channel of notifications.yml.")
@click.option("--value", "values", multiple=True, help="key=value for the template.")
@_env
def notify(event: str, channels: tuple[str, ...], values: tuple[str, ...], env: str | None) -> None:
    """Send EVENT through notifications.yml's routes and the --channel channels."""
    fields = dict(v.split("=", 1) for v in values if "=" in v)
    try:
        notifier = Notifier(parse_settings(project_config("notifications", env)))
        notifier.submit(event, fields, also=channels)
    except ConfigError as exc:
        _fail(exc)
    notifier.flush()
    sent = sorted({name for name, said, _ in notifier.sent if said == event})
    click.echo(f"{event}: sent to {', '.join(sent) or 'no channel'}")
