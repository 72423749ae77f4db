"""``python -m spark_etl.vault`` (also ``kedro vault`` and ``spark-etl vault``): manage secrets.

Values are read from a hidden prompt or from standard input (``--stdin``), never from arguments,
which would leave them in the shell's history and the process list.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from spark_etl.vault.exceptions import VaultError
from spark_etl.vault.store import Vault, default_path, master_key_from_env

NEW_PASSPHRASE_ENV = "SPARK_ETL_VAULT_NEW_PASSPHRASE"
F = TypeVar("F", bound=Callable[..., Any])


def _friendly(command: F) -> F:
    """Report vault errors in one line (exit code 1), never with a traceback."""

    @wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (VaultError, ValueError) as exc:
            click.echo(f"vault: error: {exc}", err=True)
            sys.exit(1)

    return run  # type: ignore[return-value]


def _open(path: Path | None) -> Vault:
    return Vault(path or default_path(), master_key_from_env())


def _read_value(from_stdin: bool, prompt: str) -> str:
    if from_stdin:
        value = sys.stdin.read().rstrip("\n")
    else:
        value = click.prompt(prompt, hide_input=True, confirmation_prompt=True)
    if not value:
        raise ValueError("refusing to store an empty value")
    return value


vault_path = click.option(
    "--vault",
    "path",
    type=click.Path(path_type=Path),
    default=None,
    help="The vault file (default: $SPARK_ETL_VAULT_PATH or .local/vault/credentials.vault).",
)


@click.group(name="vault", context_settings={"help_option_names": ["-h", "--help"]})
def vault() -> None:
    """The local encrypted credential vault (master key: $SPARK_ETL_VAULT_PASSPHRASE or
    $SPARK_ETL_VAULT_KEY_FILE)."""


@vault.command()
@vault_path
@_friendly
def init(path: Path | None) -> None:
    """Create an empty vault."""
    store = _open(path)
    store.init()
    click.echo(f"vault: created {store.path}")


@vault.command("set")
@click.argument("secret_id")
@click.option("--stdin", "from_stdin", is_flag=True, help="Read the value from standard input.")
@vault_path
@_friendly
def set_(secret_id: str, from_stdin: bool, path: Path | None) -> None:
    """Store a secret (the value from a hidden prompt, or from stdin)."""
    store = _open(path)
    store.set(secret_id, _read_value(from_stdin, f"Value of {secret_id}"))
    click.echo(f"vault: stored {secret_id}")


@vault.command()
@click.argument("secret_id")
@vault_path
@_friendly
def get(secret_id: str, path: Path | None) -> None:
    """Print a secret's value."""
    click.echo(_open(path).get(secret_id))


@vault.command("list")
@vault_path
@_friendly
def list_(path: Path | None) -> None:
    """List the secret ids (never the values)."""
    for secret_id in _open(path).list():
        click.echo(secret_id)


@vault.command()
@click.argument("secret_id")
@vault_path
@_friendly
def rm(secret_id: str, path: Path | None) -> None:
    """Delete a secret."""
    _open(path).remove(secret_id)
    click.echo(f"vault: removed {secret_id}")


@vault.command("rotate-key")
@vault_path
@_friendly
def rotate_key(path: Path | None) -> None:
    """Re-encrypt the vault under a new master passphrase."""
    new = os.environ.get(NEW_PASSPHRASE_ENV) or click.prompt(
        "New master passphrase", hide_input=True, confirmation_prompt=True
    )
    store = _open(path)
    store.rotate_key(new)
    click.echo(f"vault: re-encrypted {store.path}; use the new passphrase from now on")
