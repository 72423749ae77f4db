"""A project's local stack: which servers it needs, their secrets, and the script that runs them.

A project lists its servers in ``conf/<env>/services*.yml`` (several files merge, as Kedro's config
loader merges them)::

    postgres: {database: acme_orders, user: acme_orders}
    mariadb: {database: acme_orders, user: acme_orders}
    s3: {buckets: [acme-orders-raw, acme-orders-lake]}
    kafka: {}

``up`` keeps each server's password in the project's vault (created on first use, its master key in
a 0600 key file under ``.local/vault/`` unless ``SPARK_ETL_VAULT_PASSPHRASE`` or
``SPARK_ETL_VAULT_KEY_FILE`` names one), hands the passwords to ``services.sh`` in its environment
and never writes them anywhere else: ``.local/services.env`` gets the endpoints and the vault's
location only. ``spark`` (a standalone master and worker, the ``spark-submit`` target) is one more
server: list it, or start it by name (``kedro services up spark``).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from importlib.resources import files
from pathlib import Path
from typing import Literal

from kedro.config import MissingConfigException
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from spark_etl._validation import problems
from spark_etl.exceptions import ConfigError
from spark_etl.runtime.config import EtlConfigLoader
from spark_etl.runtime.env import local_dir, services_env
from spark_etl.vault import Vault
from spark_etl.vault.store import KEY_FILE_ENV, PASSPHRASE_ENV, PATH_ENV, master_key_from_env

Server = Literal["postgres", "mariadb", "s3", "kafka", "spark"]
SERVERS: tuple[Server, ...] = ("postgres", "mariadb", "s3", "kafka", "spark")
#: Secret ids in the vault per server, and the variable that hands each one to the script.
SECRETS: dict[str, dict[str, str]] = {
    "postgres": {"postgres.password": "SPARK_ETL_PG_PASSWORD"},
    "mariadb": {"mysql.password": "SPARK_ETL_MYSQL_PASSWORD"},
    "s3": {"s3.access_key": "SPARK_ETL_S3_ACCESS_KEY", "s3.secret_key": "SPARK_ETL_S3_SECRET_KEY"},
}
_SCRIPT = "services.sh"


class Database(BaseModel):
    """A database server's database and login."""

    model_config = ConfigDict(extra="forbid")
    database: str = Field("spark_etl", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
    user: str = Field("spark_etl", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class ObjectStore(BaseModel):
    """The S3 server's buckets (moto keeps them in memory: made again on every ``up``)."""

    model_config = ConfigDict(extra="forbid")
    buckets: list[str] = Field(default_factory=list)


class Plain(BaseModel):
    """A server with nothing to set."""

    model_config = ConfigDict(extra="forbid")


class StackConfig(BaseModel):
    """``conf/<env>/services*.yml``: a key per server the project needs."""

    model_config = ConfigDict(extra="forbid")
    postgres: Database | None = None
    mariadb: Database | None = None
    s3: ObjectStore | None = None
    kafka: Plain | None = None
    spark: Plain | None = None

    def servers(self) -> list[Server]:
        """The servers named, in the order they start."""
        return [name for name in SERVERS if getattr(self, name) is not None]


def load_config(project: Path, env: str | None = None) -> StackConfig:
    """The project's ``services*.yml`` (``conf/base`` and the run's env), validated.

    Raises:
        ConfigError: naming the file set, the key and the problem.
    """
    conf = Path(project) / "conf"
    if env is None and not (conf / "local").is_dir():
        env = "base"  # a project without conf/local/ (a fresh clone with no .gitkeep)
    loader = EtlConfigLoader(conf_source=str(conf), env=env)
    try:
        raw = {key: value if value is not None else {} for key, value in loader["services"].items()}
    except MissingConfigException:
        raw = {}
    try:
        return StackConfig(**raw)
    except ValidationError as exc:
        raise ConfigError(
            f"Invalid local stack in {project}/conf/*/services*.yml: {problems(exc)}. Servers: "
            f"{', '.join(SERVERS)}."
        ) from exc


class LocalVault:
    """The project's vault as the local stack uses it: created with a key file when missing."""

    def __init__(self, project: Path) -> None:
        local = local_dir(project)
        self.path = Path(os.environ.get(PATH_ENV) or local / "vault" / "credentials.vault")
        self.key_file: Path | None = None
        if not (os.environ.get(PASSPHRASE_ENV) or os.environ.get(KEY_FILE_ENV)):
            self.key_file = local / "vault" / "master.key"

    def open(self) -> Vault:
        """The vault, with its key file made first if the stack manages the key."""
        if self.key_file is not None:
            if not self.key_file.is_file():
                _write_private(self.key_file, secrets.token_urlsafe(32))
            passphrase = self.key_file.read_text(encoding="utf-8").strip()
        else:
            passphrase = master_key_from_env()
        vault = Vault(self.path, passphrase)
        if not self.path.exists():
            vault.init()
        return vault

    def env(self) -> dict[str, str]:
        """Where the vault and its key are, for ``services.env`` (so runs find them)."""
        found = {PATH_ENV: str(self.path)}
        if self.key_file is not None:
            found[KEY_FILE_ENV] = str(self.key_file)
        return found


def ensure_secrets(vault: Vault, servers: list[Server]) -> dict[str, str]:
    """The servers' secrets as the script's variables, made (random) and stored when missing.

    Users and endpoints are not secrets: they go to ``services.env``.
    """
    stored = vault.items()
    wanted = {
        secret_id: _new_secret(secret_id)
        for server in servers
        for secret_id in SECRETS.get(server, {})
        if secret_id not in stored
    }
    if wanted:
        vault.set_many(wanted)
        stored = {**stored, **wanted}
    return {
        variable: stored[secret_id]
        for server in servers
        for secret_id, variable in SECRETS.get(server, {}).items()
    }


def _new_secret(secret_id: str) -> str:
    # the S3 server takes any key id; a readable one helps when reading its log
    return "spark-etl-local" if secret_id == "s3.access_key" else secrets.token_hex(16)


def script_env(project: Path, config: StackConfig) -> dict[str, str]:
    """What ``services.sh`` reads besides the secrets: the project, its database names, buckets
    and the Python environment of moto and pyspark."""
    found = {
        "SPARK_ETL_PROJECT": str(Path(project).resolve()),
        "SPARK_ETL_LOCAL": str(local_dir(project)),
        "SPARK_ETL_PYTHON_BIN": str(Path(sys.executable).parent),
    }
    for server, prefix in (("postgres", "SPARK_ETL_PG"), ("mariadb", "SPARK_ETL_MYSQL")):
        settings = getattr(config, server)
        if isinstance(settings, Database):
            found[f"{prefix}_DB"] = settings.database
            found[f"{prefix}_USER"] = settings.user
    if config.s3 is not None:
        found["SPARK_ETL_S3_BUCKETS"] = " ".join(config.s3.buckets)
    return found


def run_script(command: str, servers: list[str], env: dict[str, str]) -> int:
    """Run ``services.sh COMMAND SERVER...`` with ``env`` on top of this process's environment."""
    script = files("spark_etl.stack") / _SCRIPT
    done = subprocess.run(
        ["bash", str(script), command, *servers], env={**os.environ, **env}, check=False
    )
    return done.returncode


def up(project: Path, names: list[str] | None = None, env: str | None = None) -> int:
    """Start the project's servers (or ``names``); write ``.local/services.env``."""
    config = load_config(project, env)
    servers = _chosen(config, names)
    local = LocalVault(project)
    secret_env = ensure_secrets(local.open(), servers) if servers else {}
    return run_script(
        "up", list(servers), {**script_env(project, config), **local.env(), **secret_env}
    )


def down(project: Path, names: list[str] | None = None, env: str | None = None) -> int:
    """Stop the servers (all of them when none are named; their data stays)."""
    config = load_config(project, env)
    servers = [_checked(n) for n in names] if names else list(SERVERS)
    return run_script("down", list(servers), script_env(project, config))


def status(project: Path, names: list[str] | None = None, env: str | None = None) -> int:
    """One line per server: up or down, address, log; exit code 3 when one is down."""
    config = load_config(project, env)
    return run_script("status", list(_chosen(config, names)), script_env(project, config))


def bootstrap(project: Path, env: str | None = None) -> int:
    """Install the system packages Spark and the project's servers need (Java and Maven; the
    PostgreSQL and MariaDB servers when it uses them)."""
    servers = load_config(project, env).servers()
    script = files("spark_etl.stack") / "bootstrap.sh"
    return subprocess.run(["bash", str(script), "system", *servers], check=False).returncode


def read_local_stack(project: Path) -> dict[str, str]:
    """The endpoints of the project's running stack and its servers' secrets, under the
    variable names of ``services.env`` (``SPARK_ETL_PG_PASSWORD`` ...): for tests, benchmarks and
    scripts that talk to the servers directly. Empty when the stack never ran."""
    found = services_env(project)
    if not found:
        return {}
    vault_path = Path(found.get(PATH_ENV, local_dir(project) / "vault" / "credentials.vault"))
    key_file = found.get(KEY_FILE_ENV)
    passphrase = (
        Path(key_file).read_text(encoding="utf-8").strip() if key_file else master_key_from_env()
    )
    stored = Vault(vault_path, passphrase).items()
    for ids in SECRETS.values():
        for secret_id, variable in ids.items():
            if secret_id in stored:
                found[variable] = stored[secret_id]
    return found


def _chosen(config: StackConfig, names: list[str] | None) -> list[Server]:
    if names:
        return [_checked(n) for n in names]
    servers = config.servers()
    if not servers:
        raise ConfigError(
            "No servers to start: list them in conf/base/services.yml (postgres, mariadb, s3, "
            "kafka, spark), or name them: kedro services up postgres s3."
        )
    return servers


def _checked(name: str) -> Server:
    if name not in SERVERS:
        raise ConfigError(f"Unknown server '{name}': choose from {', '.join(SERVERS)}.")
    return name


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text + "\n")
