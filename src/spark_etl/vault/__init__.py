"""The local encrypted credential vault: AES-256-GCM, scrypt key, versioned file, atomic writes.

Kedro credentials reference secrets as ``${vault:postgres.password}``; see ``docs/vault.md``.
"""

from spark_etl.vault.exceptions import (
    InvalidSecretIdError,
    MasterKeyMissingError,
    SecretNotFoundError,
    VaultError,
    VaultExistsError,
    VaultFormatError,
    VaultLockedError,
)
from spark_etl.vault.resolver import known_secret_values, reset_cache, vault_resolver
from spark_etl.vault.store import Vault, default_path, master_key_from_env, open_default_vault

__all__ = [
    "InvalidSecretIdError",
    "MasterKeyMissingError",
    "SecretNotFoundError",
    "Vault",
    "VaultError",
    "VaultExistsError",
    "VaultFormatError",
    "VaultLockedError",
    "default_path",
    "known_secret_values",
    "master_key_from_env",
    "open_default_vault",
    "reset_cache",
    "vault_resolver",
]
