"""The credential vault: encryption, every command and every failure, and the ${vault:} resolver."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from omegaconf import OmegaConf

from spark_etl.cli import cli
from spark_etl.runtime.classify import classify
from spark_etl.vault import (
    InvalidSecretIdError,
    MasterKeyMissingError,
    SecretNotFoundError,
    Vault,
    VaultExistsError,
    VaultFormatError,
    VaultLockedError,
    known_secret_values,
    master_key_from_env,
    reset_cache,
    vault_resolver,
)
from spark_etl.vault.crypto import KdfParams

FAST = KdfParams(n=2**10)  # cheap scrypt for tests; the default is OWASP's 2**17
SECRET = "s3cr3t-v4lue"


@pytest.fixture
def vault(tmp_path: Path) -> Vault:
    store = Vault(tmp_path / "v" / "credentials.vault", "master-pass", kdf=FAST)
    store.init()
    store.set("postgres.password", SECRET)
    return store


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_round_trip_and_file_hygiene(vault: Vault) -> None:
    vault.set("s3.secret_key", "abc/123")
    assert vault.get("postgres.password") == SECRET
    assert vault.list() == ["postgres.password", "s3.secret_key"]
    text = vault.path.read_text()
    assert SECRET not in text and "postgres.password" not in text  # ids are encrypted too
    envelope = json.loads(text)
    assert (envelope["format"], envelope["version"], envelope["kdf"]["name"]) == (
        "spark-etl-vault",
        1,
        "scrypt",
    )
    assert mode(vault.path) == 0o600
    assert [p.name for p in vault.path.parent.iterdir()] == ["credentials.vault"]  # no temp files


def test_every_write_uses_a_fresh_nonce(vault: Vault) -> None:
    before = json.loads(vault.path.read_text())
    vault.set("postgres.password", SECRET)
    after = json.loads(vault.path.read_text())
    assert before["nonce"] != after["nonce"] and before["ciphertext"] != after["ciphertext"]


def test_wrong_master_key_fails_without_naming_values(vault: Vault) -> None:
    wrong = Vault(vault.path, "not-the-pass", kdf=FAST)
    with pytest.raises(VaultLockedError, match="wrong master key, or the file was modified") as e:
        wrong.get("postgres.password")
    assert SECRET not in str(e.value)


@pytest.mark.parametrize("field", ["ciphertext", "nonce", "salt"])
def test_tampering_is_detected(vault: Vault, field: str) -> None:
    envelope = json.loads(vault.path.read_text())
    target = envelope["kdf"] if field == "salt" else envelope
    raw = bytearray(__import__("base64").b64decode(target[field]))
    raw[0] ^= 0x01
    target[field] = __import__("base64").b64encode(bytes(raw)).decode()
    vault.path.write_text(json.dumps(envelope))
    with pytest.raises(VaultLockedError):
        vault.get("postgres.password")


def test_tampered_kdf_header_is_detected(vault: Vault) -> None:
    envelope = json.loads(vault.path.read_text())
    envelope["kdf"]["r"] = 9
    vault.path.write_text(json.dumps(envelope))
    with pytest.raises(VaultLockedError):
        vault.get("postgres.password")


def test_missing_secret_names_id_and_close_match(vault: Vault) -> None:
    with pytest.raises(
        SecretNotFoundError,
        match=r"no secret 'postgres\.pasword'\. Did you mean 'postgres\.password'\?",
    ) as info:
        vault.get("postgres.pasword")
    assert SECRET not in str(info.value)


def test_unknown_version_and_foreign_files(vault: Vault, tmp_path: Path) -> None:
    envelope = json.loads(vault.path.read_text())
    envelope["version"] = 2
    vault.path.write_text(json.dumps(envelope))
    with pytest.raises(VaultFormatError, match="format version 2; this spark-etl reads version 1"):
        vault.list()
    other = tmp_path / "notes.txt"
    other.write_text("hello")
    with pytest.raises(VaultFormatError, match="is not a spark-etl vault"):
        Vault(other, "x").list()
    with pytest.raises(VaultFormatError, match=r"No vault at .*`python -m spark_etl\.vault init`"):
        Vault(tmp_path / "none.vault", "x").list()


def test_init_refuses_to_overwrite(vault: Vault) -> None:
    with pytest.raises(VaultExistsError, match="A vault exists at"):
        vault.init()


@pytest.mark.parametrize("bad", ["", "a b", "pg..password", "x;rm", ".hidden"])
def test_invalid_ids_are_refused(vault: Vault, bad: str) -> None:
    with pytest.raises(InvalidSecretIdError, match="Invalid secret id"):
        vault.set(bad, "v")


def test_an_older_cost_is_read_and_raised_on_the_next_write(vault: Vault) -> None:
    vault.set("db.password", "s3cr3t-value")  # written at FAST, as an older spark-etl did
    assert json.loads(vault.path.read_text())["kdf"]["n"] == 2**10
    today = Vault(vault.path, "master-pass", kdf=KdfParams(n=2**12))
    assert today.get("db.password") == "s3cr3t-value"  # the header's cost opens it
    assert json.loads(vault.path.read_text())["kdf"]["n"] == 2**10  # reading changes nothing
    today.set("api.token", "another-value")
    assert json.loads(vault.path.read_text())["kdf"]["n"] == 2**12
    assert today.get("db.password") == "s3cr3t-value"
    assert KdfParams() == KdfParams(n=2**17, r=8, p=1)  # OWASP's minimum for scrypt


def test_remove_and_rotate(vault: Vault) -> None:
    vault.set("tmp.token", "tok-123456")
    vault.remove("tmp.token")
    assert vault.list() == ["postgres.password"]
    with pytest.raises(SecretNotFoundError):
        vault.remove("tmp.token")
    vault.rotate_key("new-master")
    assert mode(vault.path) == 0o600
    assert Vault(vault.path, "new-master").get("postgres.password") == SECRET
    with pytest.raises(VaultLockedError):
        Vault(vault.path, "master-pass").get("postgres.password")


def test_master_key_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPARK_ETL_VAULT_PASSPHRASE", raising=False)
    monkeypatch.delenv("SPARK_ETL_VAULT_KEY_FILE", raising=False)
    with pytest.raises(MasterKeyMissingError, match="set SPARK_ETL_VAULT_PASSPHRASE"):
        master_key_from_env()
    key_file = tmp_path / "key"
    monkeypatch.setenv("SPARK_ETL_VAULT_KEY_FILE", str(key_file))
    with pytest.raises(MasterKeyMissingError, match="missing or empty"):
        master_key_from_env()
    key_file.write_text("from-file\n")
    assert master_key_from_env() == "from-file"
    monkeypatch.setenv("SPARK_ETL_VAULT_PASSPHRASE", "from-env")
    assert master_key_from_env() == "from-env"


def test_cli_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "cli.vault"
    monkeypatch.setenv("SPARK_ETL_VAULT_PASSPHRASE", "cli-pass")
    run = CliRunner().invoke
    assert run(cli, ["vault", "init", "--vault", str(path)]).exit_code == 0
    result = run(
        cli,
        ["vault", "set", "mysql.password", "--stdin", "--vault", str(path)],
        input="my-pw-value\n",
    )
    assert result.exit_code == 0 and "my-pw-value" not in result.output
    result = run(
        cli, ["vault", "set", "pg.password", "--vault", str(path)], input="pg-value\npg-value\n"
    )  # hidden prompt with confirmation
    assert result.exit_code == 0
    assert run(cli, ["vault", "list", "--vault", str(path)]).output.split() == [
        "mysql.password",
        "pg.password",
    ]
    assert run(cli, ["vault", "get", "pg.password", "--vault", str(path)]).output == "pg-value\n"
    assert run(cli, ["vault", "rm", "pg.password", "--vault", str(path)]).exit_code == 0
    missing = run(cli, ["vault", "get", "pg.password", "--vault", str(path)])
    assert missing.exit_code == 1
    assert "vault: error: The vault" in missing.output and "no secret 'pg.password'" in (
        missing.output
    )
    monkeypatch.setenv("SPARK_ETL_VAULT_NEW_PASSPHRASE", "rotated")
    assert run(cli, ["vault", "rotate-key", "--vault", str(path)]).exit_code == 0
    locked = run(cli, ["vault", "list", "--vault", str(path)])
    assert locked.exit_code == 1 and "wrong master key" in locked.output
    empty = run(
        cli,
        ["vault", "set", "x.y", "--stdin", "--vault", str(path)],
        input="\n",
        env={"SPARK_ETL_VAULT_PASSPHRASE": "rotated"},
    )
    assert empty.exit_code == 1 and "refusing to store an empty value" in empty.output


def test_resolver_feeds_omegaconf_and_the_redaction(
    vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPARK_ETL_VAULT_PATH", str(vault.path))
    monkeypatch.setenv("SPARK_ETL_VAULT_PASSPHRASE", "master-pass")
    reset_cache()
    try:
        OmegaConf.register_new_resolver("vault", vault_resolver, replace=True)
        conf = OmegaConf.create(
            {"postgres": {"user": "u", "password": "${vault:postgres.password}"}}
        )
        assert conf.postgres.password == SECRET
        assert SECRET in known_secret_values()
        from spark_etl.runtime.logs import redact

        assert redact(f"connecting with {SECRET}") == "connecting with ***"
        missing = OmegaConf.create({"p": "${vault:mysql.password}"})
        with pytest.raises(Exception, match=r"no secret 'mysql\.password'"):
            _ = missing.p
    finally:
        reset_cache()


def test_kedro_credentials_reference_the_vault(
    vault: Vault, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from spark_etl.runtime.config import EtlConfigLoader

    conf = tmp_path / "conf"
    (conf / "base").mkdir(parents=True)
    (conf / "local").mkdir()
    (conf / "base" / "credentials.yml").write_text(
        "postgres:\n  user: spark_etl\n  password: ${vault:postgres.password}\n"
    )
    monkeypatch.setenv("SPARK_ETL_VAULT_PATH", str(vault.path))
    monkeypatch.setenv("SPARK_ETL_VAULT_PASSPHRASE", "master-pass")
    reset_cache()
    try:
        loader = EtlConfigLoader(conf_source=str(conf))
        assert loader["credentials"]["postgres"]["password"] == SECRET
        monkeypatch.setenv("SPARK_ETL_VAULT_PASSPHRASE", "wrong")
        reset_cache()
        with pytest.raises(Exception, match="wrong master key") as info:
            EtlConfigLoader(conf_source=str(conf))["credentials"]
        assert "full_key: postgres.password" in str(info.value)  # the secret id, never a value
        assert classify(info.value) == "terminal"  # a wrong key is never retried
    finally:
        reset_cache()
