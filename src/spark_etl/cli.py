"""spark-etl's project commands: ``kedro run`` (retrying), ``kedro jars``, ``kedro vault`` and
``kedro services``; also ``spark-etl <command>``.

Kedro adds the commands of :data:`cli` to the ``kedro`` command line of every project that has
spark-etl installed (the ``kedro.project_commands`` entry point), and a plugin's ``run`` replaces
Kedro's: this one is Kedro's ``run`` with :class:`~spark_etl.runtime.runner.RetryingRunner` as the
default runner, so every ``kedro run`` (and ``spark-submit`` of the packaged project) retries
transient failures as ``conf/<env>/runtime.yml`` says. ``--runner`` still picks another runner; a
project's own ``cli.py`` still wins over all of these.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import click
from kedro.framework.cli.project import run as kedro_run

from spark_etl import stack
from spark_etl.exceptions import EtlError
from spark_etl.runtime import jars
from spark_etl.vault.cli import vault

DEFAULT_RUNNER = "spark_etl.runtime.runner.RetryingRunner"


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


run = _with_default_runner(kedro_run, DEFAULT_RUNNER)


@click.group(name="spark_etl", context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """spark-etl project commands."""


@cli.command("jars")
@click.argument("what", type=click.Choice(["resolve", "packages", "classpath"]), default="resolve")
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

main = cli
