"""The ``spark-etl`` console script: project tooling that is not a ``kedro`` command."""

from __future__ import annotations

import click

from spark_etl.runtime import jars


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """spark-etl tooling: connector jars, the credential vault."""


@main.command("jars")
@click.argument("what", type=click.Choice(["resolve", "packages", "classpath"]), default="resolve")
def jars_command(what: str) -> None:
    """Resolve the connector jars, or print them for spark-submit."""
    jars.main([what])
