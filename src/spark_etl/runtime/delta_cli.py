"""``kedro spark-etl delta``: a Delta table's history and its upkeep, by catalog name.

kedro spark-etl delta history --dataset D [--limit 20]        # version, time, operation, metrics
kedro spark-etl delta optimize --dataset D [--where SQL] [--z-order-by c1,c2]
kedro spark-etl delta vacuum --dataset D [--retain 168h] [--yes]
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import click
from kedro.framework.session import KedroSession

from spark_etl.datasets import DeltaDataset

_env = click.option("--env", "-e", default=None, help="Kedro environment of the catalog.")
_dataset = click.option("--dataset", "-d", required=True, help="A DeltaDataset of the catalog.")


@click.group(name="delta", context_settings={"help_option_names": ["-h", "--help"]})
def delta() -> None:
    """A Delta table's history, compaction (OPTIMIZE) and old files (VACUUM)."""


@contextmanager
def _table(name: str, env: str | None) -> Iterator[DeltaDataset]:
    """The catalog's DeltaDataset ``name``, with the project's Spark session up."""
    session = KedroSession.create(env=env)
    with session:
        catalog = session.load_context().catalog  # its hooks start the Spark session
        found = catalog.get(name) if name in catalog else None
        if not isinstance(found, DeltaDataset):
            kind = "no catalog entry" if found is None else f"a {type(found).__name__}"
            raise click.ClickException(
                f"'{name}' is {kind}, not a DeltaDataset: name an entry of type "
                "spark_etl.datasets.DeltaDataset."
            )
        yield found


@delta.command("history")
@_dataset
@click.option("--limit", default=20, show_default=True, help="How many commits, newest first.")
@_env
def history(dataset: str, limit: int, env: str | None) -> None:
    """Print the table's latest commits: version, time, operation and its metrics."""
    with _table(dataset, env) as table:
        for commit in table.history(limit):
            metrics = json.dumps(commit["operationMetrics"] or {}, sort_keys=True)
            click.echo(
                f"{commit['version']}  {commit['timestamp']}  {commit['operation']}  {metrics}"
            )


@delta.command("optimize")
@_dataset
@click.option("--where", default=None, help="Only the partitions matching this SQL predicate.")
@click.option("--z-order-by", default=None, help="Columns to Z-order by, comma-separated.")
@_env
def optimize(dataset: str, where: str | None, z_order_by: str | None, env: str | None) -> None:
    """Compact the table's small files (OPTIMIZE), optionally Z-ordered."""
    columns = [c.strip() for c in z_order_by.split(",")] if z_order_by else None
    with _table(dataset, env) as table:
        metrics = table.optimize(where=where, z_order_by=columns).first()
        found = metrics["metrics"] if metrics is not None else None
        added = found["numFilesAdded"] if found is not None else 0
        removed = found["numFilesRemoved"] if found is not None else 0
        click.echo(f"{dataset}: {removed} file(s) compacted into {added}")


@delta.command("vacuum")
@_dataset
@click.option("--retain", default=None, help="Keep files read by versions this recent (168h).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@_env
def vacuum(dataset: str, retain: str | None, yes: bool, env: str | None) -> None:
    """Delete the files that no version within the retention reads (VACUUM)."""
    kept = retain or "Delta's default of 7 days"
    if not yes:
        click.confirm(
            f"Delete the files of '{dataset}' that no version within {kept} reads? Time travel "
            "to older versions stops working.",
            abort=True,
        )
    with _table(dataset, env) as table:
        table.vacuum(retain)
        click.echo(f"{dataset}: vacuumed (files older than {kept} that no version reads)")
