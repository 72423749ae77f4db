"""AES-256-GCM with a key derived from a passphrase by scrypt (``cryptography``'s primitives).

Every write uses a fresh random 96-bit nonce and a fresh salt-bound key; the file header (format,
version, KDF parameters, salt) is the associated data, so changing any header byte makes
decryption fail just as changing the ciphertext does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

KEY_BYTES = 32
NONCE_BYTES = 12
SALT_BYTES = 16


@dataclass(frozen=True)
class KdfParams:
    """scrypt's cost parameters, stored in each file's header: a file written at an older cost
    stays readable, and is written again at the current one (OWASP's minimum, n=2^17, r=8, p=1,
    by default) the next time it changes."""

    n: int = 2**17
    r: int = 8
    p: int = 1


@lru_cache(maxsize=16)
def derive_key(passphrase: str, salt: bytes, params: KdfParams) -> bytes:
    """The 256-bit key of ``passphrase`` and ``salt`` (cached: a run derives it once)."""
    kdf = Scrypt(salt=salt, length=KEY_BYTES, n=params.n, r=params.r, p=params.p)
    return kdf.derive(passphrase.encode("utf-8"))


def new_salt() -> bytes:
    """A fresh random salt."""
    return os.urandom(SALT_BYTES)


def encrypt(key: bytes, plaintext: bytes, associated: bytes) -> tuple[bytes, bytes]:
    """``(nonce, ciphertext)`` of ``plaintext`` under ``key``, bound to ``associated``."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce, AESGCM(key).encrypt(nonce, plaintext, associated)


def decrypt(key: bytes, nonce: bytes, ciphertext: bytes, associated: bytes) -> bytes | None:
    """The plaintext, or ``None`` if the key is wrong or anything was tampered with."""
    try:
        return AESGCM(key).decrypt(nonce, ciphertext, associated)
    except InvalidTag:
        return None
