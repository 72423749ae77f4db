"""spark-etl's project commands: ``kedro run`` (retrying), ``kedro check``, ``kedro jars``,
``kedro vault``, ``kedro services`` and ``kedro state``; also ``spark-etl <command>``.

Kedro adds the commands of :data:`cli` to the ``kedro`` command line of every project that has
spark-etl installed (the ``kedro.project_commands`` entry point), and a plugin's ``run`` replaces
Kedro's: this one is Kedro's ``run`` with :class:`~spark_etl.runtime.runner.RetryingRunner` as the
default runner, so every ``kedro run`` (and ``spark-submit`` of the packaged project) retries
transient failures as ``conf/<env>/runtime.yml`` says. ``--runner`` still picks another runner; a
project's own ``cli.py`` still wins over all of these.
"""

from __future__ import annotations

import copy
import logging
import os
import re
import traceback
import warnings
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, NoReturn

import click
from kedro.framework.cli.project import run as kedro_run
from kedro.framework.project import pipelines
from kedro.framework.session import KedroSession
from kedro.utils import find_kedro_project

from spark_etl import stack
from spark_etl._durations import duration
from spark_etl._suggest import did_you_mean
from spark_etl.declared import DeclaredPipelineError
from spark_etl.exceptions import EtlError
from spark_etl.runtime import jars, logs
from spark_etl.runtime.declared_hooks import DeclaredPipelineHooks
from spark_etl.runtime.delta_cli import delta
from spark_etl.runtime.failure import TRACEBACK_ENV, Failure, explain
from spark_etl.runtime.notify import NotificationHandler
from spark_etl.runtime.notify_hooks import SOURCE_LOGGER
from spark_etl.runtime.preflight import Problem, check_run
from spark_etl.runtime.schedule_cli import airflow, arrived
from spark_etl.runtime.schedule_cli import notify as notify_command
from spark_etl.runtime.state_cli import state
from spark_etl.runtime.state_hooks import FULL_REFRESH_ENV
from spark_etl.runtime.streaming import MAX_SECONDS_ENV
from spark_etl.runtime.submit_cli import submit
from spark_etl.vault.cli import vault

DEFAULT_RUNNER = "spark_etl.runtime.runner.RetryingRunner"
_SECONDS = re.compile(r"^\d+(\.\d+)?$")


def _with_default_runner(command: click.Command, runner: str) -> click.Command:
    """A copy of Kedro's ``run`` whose ``--runner`` defaults to ``runner``."""
    patched = copy.copy(command)
    patched.params = [copy.copy(param) for param in command.params]
    for param in patched.params:
        if param.name == "runner":
            param.default = runner
            if isinstance(param, click.Option):
                param.show_default = True
    return patched


def _reporting_failures(command: click.Command) -> click.Command:
    """``command`` (Kedro's ``run``) that ends a failed run with a short block on stderr and an
    exit code by kind of failure (``spark_etl.runtime.failure``), the traceback in the run's log
    file; ``--verbose`` (or ``SPARK_ETL_TRACEBACK=1``) prints the traceback as well."""
    original = command.callback
    assert original is not None

    def callback(
        *args: Any,
        verbose: bool = False,
        full_refresh: bool = False,
        max_duration: timedelta | None = None,
        **kwargs: Any,
    ) -> Any:
        if full_refresh:
            os.environ[FULL_REFRESH_ENV] = "1"
        if max_duration is not None:
            os.environ[MAX_SECONDS_ENV] = str(max_duration.total_seconds())
        log_file = _name_run_log()
        with warnings.catch_warnings():
            # The mission's and the README's command line is `kedro run --pipeline NAME`, which
            # Kedro 1.x still runs; its deprecation notice is no action for the user yet.
            warnings.filterwarnings("ignore", message="Option '--pipeline' is deprecated")
            try:
                return original(*args, **kwargs)
            except Exception as exc:  # every failure of the run ends in the report below
                failure = explain(exc, _catalog_files(kwargs.get("env")))
                _log_failure(exc, failure, log_file, _run_names(kwargs))
                if verbose or os.environ.get(TRACEBACK_ENV, "") not in ("", "0"):
                    click.echo(traceback.format_exc(), err=True)
                shown = failure.block(
                    log_file if log_file.is_file() else None, command=_run_command(kwargs)
                )
                click.echo(shown, err=True)
                raise SystemExit(int(failure.code)) from None

    command.callback = callback
    command.params.append(
        click.Option(
            ["--verbose", "-v"],
            is_flag=True,
            help=f"Print the traceback of a failure (also: {TRACEBACK_ENV}=1).",
        )
    )
    command.params.append(
        click.Option(
            ["--full-refresh"],
            is_flag=True,
            help="Read incremental sources from their configured start, ignoring the "
            f"committed state (also: {FULL_REFRESH_ENV}=1); the new end is committed.",
        )
    )
    command.params.append(
        click.Option(
            ["--max-duration"],
            type=_Duration(),
            default=None,
            help="Stop the run's streams after this long ('10m', '90s', '1h'), each after "
            "its micro-batch in flight (also: runtime.yml streaming.max_duration_s, "
            f"{MAX_SECONDS_ENV}). Without it a stream runs until Ctrl-C or SIGTERM.",
        )
    )
    return command


class _Duration(click.ParamType):
    """A length of time on the command line: ``10m``, ``90s``, ``1h``, or seconds."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, timedelta):
            return value
        text = str(value).strip()
        try:
            length = timedelta(seconds=float(text)) if _SECONDS.match(text) else duration(text)
        except ValueError as exc:
            self.fail(f"'{value}' is {exc}", param, ctx)
        if length.total_seconds() <= 0:
            self.fail(f"'{value}' is no length of time: give more than 0", param, ctx)
        return length


def _name_run_log() -> Path:
    """The run's log file (``SPARK_ETL_RUN_LOG``; a new one under ``logs/`` unless set), named
    before the run so that the Spark session and the failure report find it."""
    named = logs.run_log_path(find_kedro_project(Path.cwd()) or Path.cwd())
    assert named is not None  # a project path is given
    os.environ[logs.RUN_LOG_ENV] = str(named)
    return named


def _catalog_files(env: str | None) -> list[Path]:
    """The catalog files of the run's conf (to say which file declares a broken entry)."""
    conf = (find_kedro_project(Path.cwd()) or Path.cwd()) / "conf"
    envs = ["base", env or os.environ.get("KEDRO_ENV") or "local"]
    return [p for e in envs for p in sorted((conf / e).glob("**/catalog*.y*ml"))]


#: ``kedro run``'s options that select nodes: a run given one is resumed by adding to its line.
#: (``--from-nodes`` is not one: the resume's own replaces it.)
_NODE_SELECTION = (
    "tags",
    "node_names",
    "to_nodes",
    "from_inputs",
    "to_outputs",
    "namespaces",
    "load_versions",
    "conf_source",
    "only_missing_outputs",
)


def _run_command(kwargs: dict[str, Any]) -> str | None:
    """``kedro run`` with the run's pipelines, env and parameters; ``None`` when the run had
    other options (node selections, a runner, a conf source), which the user's own command line
    keeps better than a rebuilt one."""
    if any(kwargs.get(option) for option in _NODE_SELECTION):
        return None
    run = _run_names(kwargs)
    words = ["kedro run"]
    if run["pipeline"] != "__default__":
        words.append(f"--pipelines {run['pipeline']}")
    if run["env"]:
        words.append(f"--env {run['env']}")
    params = kwargs.get("params")
    if params:
        pairs = ",".join(f"{k}={v}" for k, v in dict(params).items())
        words.append(f'--params "{pairs}"')
    return " ".join(words)


def _run_names(kwargs: dict[str, Any]) -> dict[str, str | None]:
    """The pipeline(s) and env a ``kedro run`` was asked for (for a failure before the run)."""
    names = kwargs.get("pipelines") or kwargs.get("pipeline") or "__default__"
    if not isinstance(names, str):
        names = ",".join(str(n) for n in names)
    return {"pipeline": names, "env": kwargs.get("env")}


def _log_failure(
    exc: Exception, failure: Failure, log_file: Path, run: dict[str, str | None] | None = None
) -> None:
    """The failure and its full traceback, in the run's log file only; and to the project's
    notification channels, if the run's end did not tell them already (a failure before the
    run started: the catalog, the conf)."""
    record = logging.LogRecord(
        "spark_etl.failure", logging.ERROR, __file__, 0, "%s", (failure.message,), None
    )
    record.exc_info = (type(exc), exc, exc.__traceback__)
    for key, value in {
        "event": "run_failed",
        "error_kind": failure.kind,
        "exit_code": int(failure.code),
        "log_file": str(log_file),
        **{k: v for k, v in (run or {}).items() if v},
    }.items():
        setattr(record, key, value)
    for notifying in logging.getLogger(SOURCE_LOGGER).handlers:
        if isinstance(notifying, NotificationHandler):
            notifying.handle(record)
            notifying.notifier.flush()  # sent before the command exits
    if not log_file.parent.is_dir():
        return
    handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setFormatter(logs.json_formatter())
    handler.addFilter(logs.RedactionFilter())
    try:
        handler.handle(record)
    finally:
        handler.close()


run = _reporting_failures(_with_default_runner(kedro_run, DEFAULT_RUNNER))


@click.group(name="spark_etl", context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """spark-etl project commands."""


@cli.command("check")
@click.option(
    "--pipelines", "-p", "names", multiple=True, help="Pipelines to check (default: all)."
)
@click.option("--env", "-e", default=None, help="Kedro environment to check.")
def check_command(names: tuple[str, ...], env: str | None) -> None:
    """Check pipelines without running them: every node on empty data of the right shape."""
    log_file = _name_run_log()
    try:
        code = _check(list(names), env)
    except Exception as exc:  # the catalog or the pipelines could not even be built
        failure = explain(exc, _catalog_files(env))
        _log_failure(exc, failure, log_file)
        click.echo(failure.block(log_file if log_file.is_file() else None), err=True)
        raise SystemExit(int(failure.code)) from None
    raise SystemExit(code)


def _check(names: list[str], env: str | None) -> int:
    """Print what the preflight finds in each pipeline; 2 when any has a problem."""
    session = KedroSession.create(env=env)
    with session:
        catalog = session.load_context().catalog
        chosen = names or sorted(n for n in pipelines if n != "__default__")
        found = 0
        for name in chosen:
            if name not in pipelines:
                hint = did_you_mean(name, [n for n in pipelines if n != "__default__"])
                click.echo(f"{name}: 1 problem(s)\n  - there is no pipeline named '{name}'.{hint}")
                found += 1
                continue
            pipeline = pipelines[name]
            try:
                DeclaredPipelineHooks().before_pipeline_run(pipeline, catalog)
                report = check_run(pipeline, catalog)
                problems = report.problems
            except DeclaredPipelineError as exc:
                report, problems = None, [Problem(f"pipeline '{name}'", str(exc))]
            found += len(problems)
            if problems:
                click.echo(f"{name}: {len(problems)} problem(s)")
                for problem in problems:
                    click.echo(f"  - {problem}")
            elif report is not None:
                skipped = f", {report.nodes_skipped} skipped" if report.nodes_skipped else ""
                click.echo(f"{name}: {report.nodes_checked} node(s) checked{skipped}, no problem")
    return 2 if found else 0


@cli.command("jars")
@click.argument(
    "what", type=click.Choice(["resolve", "packages", "excludes", "classpath"]), default="resolve"
)
def jars_command(what: str) -> None:
    """Resolve the connector jars, or print them for spark-submit."""
    raise SystemExit(jars.main([what]))


_servers = click.argument("names", nargs=-1, type=click.Choice(stack.SERVERS))
_env = click.option("--env", "-e", default=None, help="Kedro environment of services*.yml.")


@click.group(name="services", context_settings={"help_option_names": ["-h", "--help"]})
def services() -> None:
    """The local stack: PostgreSQL, MariaDB, S3 (moto), Kafka and Spark on 127.0.0.1, as
    conf/<env>/services*.yml lists them; data, logs and the vault under .local/."""


def _reported(call: Callable[[], int]) -> NoReturn:
    """Run a stack action and exit with its code; a spark-etl error is one line on stderr."""
    try:
        code = call()
    except EtlError as exc:
        click.echo(f"services: error: {exc}", err=True)
        raise SystemExit(1) from None
    raise SystemExit(code)


@services.command("up")
@_servers
@_env
def services_up(names: tuple[str, ...], env: str | None) -> None:
    """Start the project's servers (or NAMES) and write .local/services.env."""
    _reported(lambda: stack.up(Path.cwd(), list(names), env))


@services.command("down")
@_servers
@_env
def services_down(names: tuple[str, ...], env: str | None) -> None:
    """Stop the servers (all when none is named); their data stays under .local/."""
    _reported(lambda: stack.down(Path.cwd(), list(names), env))


@services.command("status")
@_servers
@_env
def services_status(names: tuple[str, ...], env: str | None) -> None:
    """Say which servers are up, where, and their logs (exit code 3 if one is down)."""
    _reported(lambda: stack.status(Path.cwd(), list(names), env))


@services.command("bootstrap")
@_env
def services_bootstrap(env: str | None) -> None:
    """Install what Spark and the project's servers need (Debian/Ubuntu; root or sudo)."""
    _reported(lambda: stack.bootstrap(Path.cwd(), env))


cli.add_command(run)
cli.add_command(vault)
cli.add_command(services)
cli.add_command(state)


@click.group(name="spark-etl", context_settings={"help_option_names": ["-h", "--help"]})
def spark_etl_commands() -> None:
    """spark-etl's commands for running unattended: state, cluster submission, schedules, Delta
    table upkeep."""


spark_etl_commands.add_command(state)
spark_etl_commands.add_command(submit)
spark_etl_commands.add_command(airflow)
spark_etl_commands.add_command(arrived)
spark_etl_commands.add_command(notify_command)
spark_etl_commands.add_command(delta)
cli.add_command(spark_etl_commands)

main = cli
