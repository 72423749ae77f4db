"""A path on S3 (or any Hadoop filesystem) and how to reach it: the bucket's own s3a settings,
the server it names, its Hadoop filesystem, and S3's errors in words.

Shared by the datasets that keep their data under a path (``S3Dataset``'s files,
``DeltaDataset``'s tables) and by the S3 state store.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from pyspark.sql import SparkSession

from spark_etl._jvm import UNREACHABLE, hadoop_conf, java_error_chain, jvm_of
from spark_etl.datasets.exceptions import (
    AuthenticationError,
    SourceMissingError,
    SourceUnavailableError,
)

_CONNECT_ERRORS = (
    *UNREACHABLE,
    "ConnectTimeoutException",
    "AWSClientIOException",
    "SdkClientException",
)
_AUTH_ERRORS = (
    "AccessDeniedException",
    "AWSBadRequestException",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
)


def normalised(path: str) -> str:
    """``s3://`` read as s3a (the connector Spark has); any other path as it is."""
    if path.startswith("s3://"):
        return "s3a://" + path[len("s3://") :]
    return path


@dataclass
class S3Location:
    """``path`` with the credentials and s3a options of its bucket.

    ``credentials`` hold ``access_key`` and ``secret_key``, and may hold ``endpoint``, ``region``
    and ``path_style_access`` for S3-compatible servers; ``s3a_options`` are further s3a
    settings without the ``fs.s3a.`` prefix. Both are set for this one bucket only.
    """

    path: str
    credentials: dict[str, Any] = field(default_factory=dict)
    s3a_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.path = normalised(self.path)
        self.credentials = dict(self.credentials or {})
        self.s3a_options = {
            k.removeprefix("fs.s3a."): v for k, v in (self.s3a_options or {}).items()
        }

    @property
    def bucket(self) -> str | None:
        """The bucket of an s3a path, else ``None``."""
        parts = urlsplit(self.path)
        return parts.netloc if parts.scheme == "s3a" else None

    @property
    def endpoint(self) -> str | None:
        """The S3 endpoint of the credentials (``None``: AWS's)."""
        endpoint = self.credentials.get("endpoint")
        return str(endpoint) if endpoint else None

    def system(self) -> str:
        """``s3://`` and the endpoint (host and port), or AWS's S3 in its region."""
        if self.endpoint:
            return "s3://" + re.sub(r"^\w+://", "", self.endpoint).rstrip("/")
        return f"s3://aws/{self.credentials.get('region') or 'default-region'}"

    def configure(self, spark: SparkSession) -> None:
        """Set credentials and endpoint for this bucket only (s3a per-bucket config)."""
        bucket = self.bucket
        if bucket is None or not (self.credentials or self.s3a_options):
            return
        conf = hadoop_conf(spark)
        prefix = f"fs.s3a.bucket.{bucket}."
        options = {
            **self.s3a_options,
            "access.key": self.credentials.get("access_key"),
            "secret.key": self.credentials.get("secret_key"),
            "endpoint": self.credentials.get("endpoint"),
            "endpoint.region": self.credentials.get("region"),
            "path.style.access": self.credentials.get("path_style_access"),
        }
        for key, value in options.items():
            if value is not None:
                conf.set(
                    prefix + key, str(value).lower() if isinstance(value, bool) else str(value)
                )
        if options.get("access.key") is not None:
            conf.set(
                prefix + "aws.credentials.provider",
                "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
            )

    def filesystem(self, spark: SparkSession, path: str | None = None) -> tuple[Any, Any]:
        """The Hadoop filesystem of the path and the path (or ``path``, one under it) as a
        Hadoop ``Path``."""
        root = jvm_of(spark).org.apache.hadoop.fs.Path(path or self.path)
        return root.getFileSystem(hadoop_conf(spark)), root

    def translate(self, exc: Exception, action: str, what: str) -> Exception | None:
        """S3's refusal, silence or a missing path while doing ``action`` on ``what`` (the
        dataset's words for the path), in words; ``None`` for any other error."""
        chain = " | ".join(java_error_chain(exc))
        where = f"'{self.path}'"
        endpoint = self.endpoint or "AWS S3"
        if any(name in chain for name in _AUTH_ERRORS):
            return AuthenticationError(
                f"S3 at {endpoint} refused the credentials for {where} ({action}): check "
                "access_key/secret_key in the 's3' credentials and the bucket policy."
            )
        if any(name in chain for name in _CONNECT_ERRORS):
            return SourceUnavailableError(
                f"S3 at {endpoint} is not reachable to {action} {where}: is the server up and "
                "the endpoint right? (locally: `make services`)"
            )
        if action == "read" and "PATH_NOT_FOUND" in chain:
            return SourceMissingError(
                f"{what}: there is nothing to read at {where}: the path does not exist. "
                "Write it first (the pipeline that produces it, or the project's sample data: "
                "`make demo`), or fix 'path' in the catalog entry."
            )
        return None


def read_text(spark: SparkSession, fs: Any, path: Any) -> str:
    """The whole UTF-8 text of the file at the Hadoop ``path`` of ``fs``."""
    java_io = jvm_of(spark).java.io
    stream = fs.open(path)
    try:
        reader = java_io.BufferedReader(java_io.InputStreamReader(stream, "UTF-8"))
        return "\n".join(iter(reader.readLine, None))
    finally:
        stream.close()


def write_text(fs: Any, path: Any, text: str) -> None:
    """Replace the file at ``path`` with ``text`` (on S3 one PUT: the object appears whole)."""
    stream = fs.create(path, True)
    try:
        stream.write(bytearray(text.encode()))
    finally:
        stream.close()
