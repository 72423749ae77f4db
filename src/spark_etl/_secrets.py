"""Which names hold secrets: the one rule behind every mask (datasets' ``_describe``, the log's
redaction of credentials, fields and environment variables, the sample records of a violation)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

#: A name that holds a secret: a password, passphrase, secret, token or credential, or a key (a
#: name ending in "key": ``secret_key``, ``api_key``, ``SPARK_ETL_S3_ACCESS_KEY``), but not
#: ``key_columns`` or a ``keystore`` path.
SECRET_NAME = re.compile(
    r"pass|secret|token|credential|(^|[_.-])key$|(api|access|private|signing|master)[_.-]?key$",
    re.IGNORECASE,
)
MASK = "***"


def is_secret_name(name: object) -> bool:
    """Whether a key, field or variable called ``name`` holds a secret."""
    return bool(SECRET_NAME.search(str(name)))


def masked(values: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``values`` with the value of every secret-looking name masked."""
    return {k: (MASK if is_secret_name(k) else v) for k, v in values.items()}
