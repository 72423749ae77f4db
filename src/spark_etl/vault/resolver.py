"""``${vault:postgres.password}`` in ``conf/`` files: secrets resolved from the vault at start-up.

The project's settings register :func:`vault_resolver` as the OmegaConf resolver ``vault``. The
vault is opened once per process, on the first reference; values read are remembered so that the
log redaction can mask them.
"""

from __future__ import annotations

from spark_etl.vault.store import Vault, open_default_vault

_vault: Vault | None = None
_known: set[str] = set()


def vault_resolver(secret_id: str) -> str:
    """The value of ``secret_id`` from the default vault.

    Raises:
        VaultError: a missing master key, a wrong one, a tampered file or a missing secret, each
            named with the secret id (never its value).
    """
    global _vault  # noqa: PLW0603 - one opened vault per process
    if _vault is None:
        _vault = open_default_vault()
    value = _vault.get(secret_id)
    _known.add(value)
    return value


def known_secret_values() -> frozenset[str]:
    """The values resolved so far (the log redaction masks them)."""
    return frozenset(_known)


def reset_cache() -> None:
    """Forget the opened vault and the values read (tests; a rotated key)."""
    global _vault  # noqa: PLW0603
    _vault = None
    _known.clear()
