"""Project commands: ``spark-etl <command>``, also reachable as ``kedro <command>``.

Kedro adds the commands of ``spark_etl.cli.cli`` to its own ``kedro`` command line, and takes
``run`` from here: it is Kedro's ``run`` with :class:`~spark_etl.runtime.runner.RetryingRunner`
as the default runner, so every ``kedro run`` (and ``spark-submit`` of the package) retries
transient failures as ``conf/<env>/runtime.yml`` says. ``--runner`` still picks another runner.
"""

from __future__ import annotations

import copy

import click
from kedro.framework.cli.project import run as kedro_run

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


cli.add_command(run)
cli.add_command(vault)

main = cli
