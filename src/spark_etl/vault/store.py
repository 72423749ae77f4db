"""The vault file: a versioned JSON envelope around one AES-256-GCM encrypted JSON object.

::

    {"format": "spark-etl-vault", "version": 1,
     "kdf": {"name": "scrypt", "n": 131072, "r": 8, "p": 1, "salt": "<base64>"},
     "nonce": "<base64>", "ciphertext": "<base64>"}

The plaintext maps secret ids (``postgres.password``) to values. Every write re-encrypts the whole
object with a fresh nonce, goes to a temporary file in the same folder (mode 0600, fsync'd) and
replaces the vault atomically: a crash leaves the old vault or the new one, never half of one.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from spark_etl._suggest import did_you_mean
from spark_etl.vault.crypto import KdfParams, decrypt, derive_key, encrypt, new_salt
from spark_etl.vault.exceptions import (
    InvalidSecretIdError,
    MasterKeyMissingError,
    SecretNotFoundError,
    VaultExistsError,
    VaultFormatError,
    VaultLockedError,
)

FORMAT = "spark-etl-vault"
VERSION = 1
PATH_ENV = "SPARK_ETL_VAULT_PATH"
PASSPHRASE_ENV = "SPARK_ETL_VAULT_PASSPHRASE"
KEY_FILE_ENV = "SPARK_ETL_VAULT_KEY_FILE"
_SECRET_ID = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")


def default_path() -> Path:
    """``$SPARK_ETL_VAULT_PATH``, else ``.local/vault/credentials.vault`` under the cwd."""
    return Path(os.environ.get(PATH_ENV) or Path.cwd() / ".local" / "vault" / "credentials.vault")


def master_key_from_env() -> str:
    """The master passphrase: ``$SPARK_ETL_VAULT_PASSPHRASE``, else ``$SPARK_ETL_VAULT_KEY_FILE``.

    Raises:
        MasterKeyMissingError: when neither is set (or the key file is missing or empty).
    """
    passphrase = os.environ.get(PASSPHRASE_ENV)
    if passphrase:
        return passphrase
    key_file = os.environ.get(KEY_FILE_ENV)
    if key_file:
        path = Path(key_file)
        text = path.read_text(encoding="utf-8").strip() if path.is_file() else ""
        if text:
            return text
        raise MasterKeyMissingError(f"The vault key file '{path}' is missing or empty.")
    raise MasterKeyMissingError(
        f"No vault master key: set {PASSPHRASE_ENV}, or {KEY_FILE_ENV} to a file holding it."
    )


def check_secret_id(secret_id: str) -> str:
    """``secret_id`` if it is a dotted name (``postgres.password``).

    Raises:
        InvalidSecretIdError: otherwise.
    """
    if not isinstance(secret_id, str) or not _SECRET_ID.match(secret_id):
        raise InvalidSecretIdError(
            f"Invalid secret id {secret_id!r}: use dotted names of letters, digits, '_' and '-', "
            "such as postgres.password."
        )
    return secret_id


class Vault:
    """One vault file, opened with a master passphrase.

    Args:
        path: the vault file.
        passphrase: the master passphrase.
        kdf: scrypt's cost for new vaults and key rotation (tests use a cheaper one).
    """

    def __init__(self, path: Path, passphrase: str, kdf: KdfParams | None = None) -> None:
        self.path = Path(path)
        self._passphrase = passphrase
        self._kdf = kdf or KdfParams()

    # ---- commands ------------------------------------------------------------------------
    def init(self) -> None:
        """Create an empty vault.

        Raises:
            VaultExistsError: if the file exists already.
        """
        if self.path.exists():
            raise VaultExistsError(
                f"A vault exists at '{self.path}'; use it, or remove it first to start over."
            )
        self._write({}, self._passphrase, self._kdf)

    def get(self, secret_id: str) -> str:
        """The value of ``secret_id``.

        Raises:
            SecretNotFoundError: naming the id and the closest stored one.
        """
        secrets = self._read()
        if secret_id not in secrets:
            hint = did_you_mean(secret_id, secrets)
            raise SecretNotFoundError(
                f"The vault '{self.path}' has no secret '{secret_id}'.{hint} Add it with "
                f"`python -m spark_etl.vault set {secret_id}`."
            )
        return secrets[secret_id]

    def set(self, secret_id: str, value: str) -> None:
        """Store ``value`` under ``secret_id`` (replacing any previous value)."""
        self.set_many({secret_id: value})

    def set_many(self, values: dict[str, str]) -> None:
        """Store several secrets in one write (one key derivation, one atomic replace)."""
        secrets = self._read()
        secrets.update({check_secret_id(k): v for k, v in values.items()})
        self._write(secrets, self._passphrase, self._current_kdf())

    def list(self) -> list[str]:
        """The secret ids, sorted (never the values)."""
        return sorted(self._read())

    def remove(self, secret_id: str) -> None:
        """Delete ``secret_id``.

        Raises:
            SecretNotFoundError: if there is no such secret.
        """
        secrets = self._read()
        if secret_id not in secrets:
            raise SecretNotFoundError(f"The vault '{self.path}' has no secret '{secret_id}'.")
        del secrets[secret_id]
        self._write(secrets, self._passphrase, self._current_kdf())

    def rotate_key(self, new_passphrase: str) -> None:
        """Re-encrypt every secret under ``new_passphrase`` (new salt, new nonce)."""
        secrets = self._read()
        self._write(secrets, new_passphrase, self._kdf)
        self._passphrase = new_passphrase

    def items(self) -> dict[str, str]:
        """Every secret (for the configuration resolver)."""
        return self._read()

    # ---- file ----------------------------------------------------------------------------
    def _envelope(self) -> dict[str, Any]:
        if not self.path.is_file():
            raise VaultFormatError(
                f"No vault at '{self.path}': create one with `python -m spark_etl.vault init`, "
                f"or set {PATH_ENV}."
            )
        try:
            envelope = json.loads(self.path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise VaultFormatError(f"'{self.path}' is not a spark-etl vault (not JSON).") from exc
        if not isinstance(envelope, dict) or envelope.get("format") != FORMAT:
            raise VaultFormatError(f"'{self.path}' is not a spark-etl vault.")
        if envelope.get("version") != VERSION:
            raise VaultFormatError(
                f"'{self.path}' is a vault of format version {envelope.get('version')!r}; this "
                f"spark-etl reads version {VERSION}. Upgrade spark-etl."
            )
        return envelope

    def _current_kdf(self) -> KdfParams:
        """The file's cost, raised to this vault's where that is higher (an old file is
        re-encrypted at today's cost when it is next written)."""
        kdf = self._envelope()["kdf"]
        return KdfParams(
            n=max(int(kdf["n"]), self._kdf.n),
            r=max(int(kdf["r"]), self._kdf.r),
            p=max(int(kdf["p"]), self._kdf.p),
        )

    def _read(self) -> dict[str, str]:
        envelope = self._envelope()
        try:
            kdf = envelope["kdf"]
            params = KdfParams(n=int(kdf["n"]), r=int(kdf["r"]), p=int(kdf["p"]))
            salt = _unb64(kdf["salt"])
            nonce, ciphertext = _unb64(envelope["nonce"]), _unb64(envelope["ciphertext"])
        except (KeyError, TypeError, ValueError) as exc:
            raise VaultFormatError(f"'{self.path}' is a damaged vault: {exc}.") from exc
        key = derive_key(self._passphrase, salt, params)
        plaintext = decrypt(key, nonce, ciphertext, _header(params, salt))
        if plaintext is None:
            raise VaultLockedError(
                f"Cannot decrypt the vault '{self.path}': wrong master key, or the file was "
                "modified. Check SPARK_ETL_VAULT_PASSPHRASE / SPARK_ETL_VAULT_KEY_FILE."
            )
        secrets = json.loads(plaintext)
        return {str(k): str(v) for k, v in secrets.items()}

    def _write(self, secrets: dict[str, str], passphrase: str, kdf: KdfParams) -> None:
        salt = new_salt()
        key = derive_key(passphrase, salt, kdf)
        header = _header(kdf, salt)
        nonce, ciphertext = encrypt(key, json.dumps(secrets, sort_keys=True).encode(), header)
        envelope = {
            "format": FORMAT,
            "version": VERSION,
            "kdf": {"name": "scrypt", "n": kdf.n, "r": kdf.r, "p": kdf.p, "salt": _b64(salt)},
            "nonce": _b64(nonce),
            "ciphertext": _b64(ciphertext),
        }
        _atomic_write(self.path, json.dumps(envelope, indent=1).encode())


def _header(kdf: KdfParams, salt: bytes) -> bytes:
    """The associated data: what the header says, so that changing it breaks decryption."""
    return json.dumps([FORMAT, VERSION, "scrypt", kdf.n, kdf.r, kdf.p, _b64(salt)]).encode()


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        path.parent.chmod(0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def open_default_vault() -> Vault:
    """The vault of :func:`default_path`, opened with :func:`master_key_from_env`."""
    return Vault(default_path(), master_key_from_env())
