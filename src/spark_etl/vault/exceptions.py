"""Errors of the credential vault. Messages name the secret id or the file, never a value."""

from __future__ import annotations

from spark_etl.exceptions import ConfigError, TerminalError


class VaultError(TerminalError):
    """Base of the vault's errors (terminal: retrying cannot fix a key or a file)."""


class MasterKeyMissingError(VaultError):
    """No master passphrase was given."""


class VaultLockedError(VaultError):
    """The vault cannot be decrypted: wrong master key, or the file was modified."""


class VaultFormatError(VaultError):
    """The file is not a vault this version can read."""


class VaultExistsError(VaultError):
    """``init`` on a path that already holds a vault."""


class SecretNotFoundError(VaultError):
    """The vault has no secret of that id."""


class InvalidSecretIdError(ConfigError):
    """A secret id that is not a dotted name of letters, digits, ``_`` and ``-``."""
