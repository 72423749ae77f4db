"""Schedules (``conf/<env>/schedules.yml``) and the Airflow DAGs made from them.

::

    schedules:
      nightly:                          # one DAG: spark_etl_nightly
        cron: "0 2 * * *"               # or trigger: {files: <S3 dataset>} / {after: [pipelines]}
        cluster: standalone             # a profile of clusters.yml
        sla: 2h                         # not finished 2 h after it started: sla_missed
        notify: [ops_mail]              # channels of notifications.yml for the orchestrator's
                                        #   own events (schedule_failed, sla_missed)
        pipelines:
          batch_s3_pg: {}
          batch_pg_mysql_kafka: {after: [batch_s3_pg]}

Each pipeline becomes one task that runs ``kedro spark-etl submit --cluster C --pipeline P`` in
the project: the whole pipeline in one Spark application, retried by spark-etl's runner (the
task's Airflow retries are 0, so retries do not stack). A ``files`` trigger adds a sensor that
waits until the S3 dataset's folder holds a file modified since the last successful run of the
DAG started (``kedro spark-etl arrived``); an ``after`` trigger schedules the DAG on the Airflow
assets the named pipelines' tasks update (a pipeline of another schedule). A failed task and a
missed SLA are sent to the schedule's ``notify`` channels (and to the routes of
``notifications.yml``) by ``kedro spark-etl notify``; the run's own ``run_failed`` comes from the
driver, as for any run.
"""

from __future__ import annotations

import graphlib
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from pydantic import BaseModel, ConfigDict, Field, model_validator

from spark_etl._suggest import did_you_mean
from spark_etl._validation import validated_entries
from spark_etl.exceptions import ConfigError
from spark_etl.runtime.timeouts import Length, length_text

#: The prefix of the generated DAGs' ids and files.
DAG_PREFIX = "spark_etl_"
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


class PipelineTask(BaseModel):
    """One pipeline of a schedule."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: pipelines of the same schedule this one waits for
    after: list[str] = Field(default_factory=list)
    #: a cluster profile for this pipeline only
    cluster: str | None = None


class FilesTrigger(BaseModel):
    """Start when files arrive under an S3 dataset's folder."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    files: str  # a catalog dataset (an S3Dataset): its path is the prefix watched
    poke_every: Length = timedelta(minutes=5)
    timeout: Length = timedelta(hours=6)


class AfterTrigger(BaseModel):
    """Start when pipelines of other schedules have run (their Airflow assets)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    after: list[str] = Field(min_length=1)


class Schedule(BaseModel):
    """One entry of ``schedules.yml``: a DAG."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str | None = None
    cron: str | None = None
    trigger: FilesTrigger | AfterTrigger | None = None
    cluster: str
    env: str | None = None
    sla: Length | None = None
    notify: list[str] = Field(default_factory=list)
    pipelines: dict[str, PipelineTask] = Field(min_length=1)
    start_date: str = "2026-01-01"
    catchup: bool = False

    @model_validator(mode="after")
    def _one_start(self) -> Schedule:
        if isinstance(self.trigger, AfterTrigger) and self.cron:
            raise ValueError("give cron or trigger.after, not both (an asset trigger has no cron)")
        if self.cron is None and self.trigger is None:
            raise ValueError("give cron, or a trigger (files or after)")
        for name, task in self.pipelines.items():
            for upstream in task.after:
                if upstream not in self.pipelines:
                    raise ValueError(
                        f"pipelines.{name}.after names '{upstream}', which this schedule does "
                        f"not run.{did_you_mean(upstream, self.pipelines)}"
                    )
        try:
            tuple(graphlib.TopologicalSorter(self.order()).static_order())
        except graphlib.CycleError as exc:
            raise ValueError(f"pipelines wait for each other in a cycle: {exc.args[1]}") from None
        return self

    def order(self) -> dict[str, list[str]]:
        """Each pipeline and those it waits for."""
        return {name: list(task.after) for name, task in self.pipelines.items()}


def parse_schedules(
    raw: dict[str, Any] | None, source: str = "schedules.yml"
) -> dict[str, Schedule]:
    """The schedules of ``schedules.yml`` (its ``schedules`` mapping).

    Raises:
        ConfigError: naming the file, the schedule, the key and the problem.
    """
    entries = (raw or {}).get("schedules", raw or {}) if isinstance(raw, dict) else raw
    for name in entries if isinstance(entries, dict) else ():
        if not _NAME.match(str(name)):
            raise ConfigError(
                f"{source}: schedule name '{name}' is not a DAG id (letters, digits, _ . -)."
            )
    return validated_entries(Schedule, raw, key="schedules", what="schedule", source=source)


def check_names(
    schedules: dict[str, Schedule],
    *,
    pipelines: set[str],
    clusters: set[str],
    channels: set[str],
    s3_datasets: set[str],
) -> None:
    """Every name a schedule uses exists in the project.

    Raises:
        ConfigError: naming the schedule, the key and the closest name that exists.
    """
    for name, schedule in schedules.items():
        where = f"schedules.yml: schedules.{name}"
        uses = [
            *(("pipelines", p, pipelines, "pipeline") for p in schedule.pipelines),
            ("cluster", schedule.cluster, clusters, "cluster profile of clusters.yml"),
            *(
                (f"pipelines.{p}.cluster", t.cluster, clusters, "cluster profile of clusters.yml")
                for p, t in schedule.pipelines.items()
                if t.cluster
            ),
            *(("notify", c, channels, "channel of notifications.yml") for c in schedule.notify),
        ]
        if isinstance(schedule.trigger, FilesTrigger):
            uses.append(
                ("trigger.files", schedule.trigger.files, s3_datasets, "S3Dataset of the catalog")
            )
        if isinstance(schedule.trigger, AfterTrigger):
            uses += [("trigger.after", p, pipelines, "pipeline") for p in schedule.trigger.after]
        for key, value, known, what in uses:
            if value not in known:
                raise ConfigError(
                    f"{where}.{key} names '{value}', which is not a {what}."
                    f"{did_you_mean(str(value), known)}"
                )


def asset_uri(project: str, pipeline: str) -> str:
    """The Airflow asset a pipeline's task updates when it succeeds."""
    return f"spark-etl://{project}/{pipeline}"


def render_dag(
    name: str,
    schedule: Schedule,
    *,
    project_dir: Path,
    kedro: str,
    project: str,
    env: str | None,
) -> str:
    """The Python source of the Airflow DAG of schedule ``name``."""
    trigger = schedule.trigger
    return _TEMPLATE.render(
        name=name,
        dag_id=f"{DAG_PREFIX}{name}",
        schedule=schedule,
        description=schedule.description or f"spark-etl schedule {name}",
        project_dir=str(project_dir),
        kedro=kedro,
        env=schedule.env or env,
        tasks=[
            {
                "id": pipeline,
                "var": _identifier(pipeline),
                "cluster": task.cluster or schedule.cluster,
                "after": [_identifier(a) for a in task.after],
                "asset": asset_uri(project, pipeline),
            }
            for pipeline, task in schedule.pipelines.items()
        ],
        files=trigger if isinstance(trigger, FilesTrigger) else None,
        after_assets=(
            [asset_uri(project, p) for p in trigger.after]
            if isinstance(trigger, AfterTrigger)
            else []
        ),
        sla_s=schedule.sla.total_seconds() if schedule.sla else None,
        sla_text=_sla_text(schedule.sla),
    )


def dag_file(target_dir: Path, name: str) -> Path:
    """Where the DAG of schedule ``name`` is written."""
    return target_dir / f"{DAG_PREFIX}{name}.py"


def _identifier(name: str) -> str:
    return "task_" + re.sub(r"\W", "_", name)


def _sla_text(sla: timedelta | None) -> str:
    return length_text(sla.total_seconds()) if sla is not None else ""


def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(Path(__file__).parent),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["py"] = repr  # values as Python literals
    return environment


#: The generated DAG (a Jinja2 template of a Python module), shipped with the package.
_TEMPLATE = _environment().get_template("airflow_dag.py.j2")
