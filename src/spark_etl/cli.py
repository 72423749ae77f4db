"""Project commands: ``spark-etl <command>``, also reachable as ``kedro <command>``.

Kedro adds the commands of ``spark_etl.cli.cli`` to its own ``kedro`` command line.
"""

from __future__ import annotations

import click
from kedro.framework.cli.project import run

from spark_etl.runtime import jars


@click.group(name="spark_etl", context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """spark-etl project commands."""


@cli.command("jars")
@click.argument("what", type=click.Choice(["resolve", "packages", "classpath"]), default="resolve")
def jars_command(what: str) -> None:
    """Resolve the connector jars, or print them for spark-submit."""
    raise SystemExit(jars.main([what]))


cli.add_command(run)  # `python -m spark_etl` (spark-submit) finds the run command here

main = cli
