"""``kedro state``: what incremental sources have committed, and starting them over.

kedro state show [--pipeline P]                 # one line per pipeline and dataset
kedro state reset --pipeline P [--dataset D]    # the next run reads from the start
"""

from __future__ import annotations

import json

import click
from kedro.framework.session import KedroSession

from spark_etl.datasets import StateStore
from spark_etl.runtime.state_hooks import configured_store

_env = click.option("--env", "-e", default=None, help="Kedro environment of runtime.yml.")


@click.group(name="state", context_settings={"help_option_names": ["-h", "--help"]})
def state() -> None:
    """The committed positions of incremental sources (runtime.yml's state store)."""


def _store(env: str | None) -> StateStore:
    session = KedroSession.create(env=env)
    with session:
        store = configured_store(session.load_context())
    if store is None:
        raise click.ClickException(
            "runtime.yml names no state store: add state: {path: s3a://<bucket>/<prefix>/} "
            "(or url: + credentials: for a database table)."
        )
    return store


@state.command("show")
@click.option("--pipeline", "-p", default=None, help="Only this pipeline's entries.")
@_env
def show(pipeline: str | None, env: str | None) -> None:
    """Print each committed position: pipeline, dataset, when, by which run, where."""
    store = _store(env)
    entries = store.entries(pipeline)
    click.echo(f"State store: {store.describe()}")
    if not entries:
        click.echo("No committed state" + (f" for pipeline '{pipeline}'." if pipeline else "."))
        return
    for entry in entries:
        click.echo(
            f"{entry.pipeline}  {entry.dataset}  {entry.updated_at}  run {entry.run_id}  "
            f"{json.dumps(entry.position, sort_keys=True)}"
        )


@state.command("reset")
@click.option("--pipeline", "-p", required=True, help="The pipeline whose state goes.")
@click.option("--dataset", "-d", default=None, help="Only this dataset's state.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@_env
def reset(pipeline: str, dataset: str | None, yes: bool, env: str | None) -> None:
    """Forget committed positions: the next run reads those sources from their start."""
    store = _store(env)
    what = f"dataset '{dataset}' of pipeline '{pipeline}'" if dataset else f"pipeline '{pipeline}'"
    if not yes:
        click.confirm(f"Forget the committed state of {what} in {store.describe()}?", abort=True)
    removed = store.delete(pipeline, dataset)
    click.echo(f"Removed {removed} state entr{'y' if removed == 1 else 'ies'} of {what}.")
