"""One writer of a Delta table at a time, across processes and machines.

Delta's log store for s3a (``S3SingleDriverLogStore``) keeps commits of one table apart within
one driver only: two drivers that commit the same version both PUT ``_delta_log/<n>.json``, and
the second silently replaces the first's commit. A lease object beside the log makes the second
writer wait instead (then fail transient, naming who holds the table):

- on S3 the lease is created with a conditional PUT (``If-None-Match: *``, S3A's
  ``fs.option.create.conditional.overwrite``), renewed by its holder with ``If-Match`` on its
  ETag while the write runs, and taken over the same way once it has expired (a holder that
  died);
- on a local or mounted filesystem it is an exclusive ``flock`` on the lease file, which the
  operating system releases when the holder dies.

The lease is named ``_spark_etl_writer.lease``: a name starting with ``_`` is hidden from Delta's
readers and from ``VACUUM``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from pyspark.sql import SparkSession

from spark_etl._jvm import java_error_chain
from spark_etl.datasets._s3_location import S3Location, read_text
from spark_etl.datasets.exceptions import TableBusyError

logger = logging.getLogger("spark_etl.datasets.delta")

LEASE_NAME = "_spark_etl_writer.lease"
_CONDITIONAL = "fs.option.create.conditional.overwrite"
_CONDITIONAL_ETAG = "fs.option.create.conditional.overwrite.etag"
_TAKEN = ("PreconditionFailed", "412", "FileAlreadyExists", "RemoteFileChanged", "409")
_POLL_S = 1.0


@dataclass(frozen=True)
class LeaseSettings:
    """How long a lease lasts unrenewed (``ttl_s``) and how long a writer waits for one."""

    ttl_s: float = 60.0
    wait_s: float = 600.0


@dataclass(frozen=True)
class Holder:
    """Who holds a lease: for the message of a writer that waits."""

    owner: str
    host: str
    pid: int
    app: str
    since: float
    until: float

    def text(self) -> str:
        """``host pid (Spark application) since <time>``."""
        since = datetime.fromtimestamp(self.since, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return f"process {self.pid} on {self.host} (Spark application {self.app}) since {since}"


class TableLease:
    """The writer lease of the Delta table at ``location``'s path."""

    def __init__(
        self, spark: SparkSession, location: S3Location, settings: LeaseSettings, *, what: str
    ) -> None:
        self._spark = spark
        self._location = location
        self._settings = settings
        self._what = what
        self._owner = uuid.uuid4().hex

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Hold the lease for the body (waiting for it first)."""
        if self._location.bucket is None:
            with self._local_lock():
                yield
            return
        renewal = _Renewal(self, self._acquire_s3())
        renewal.start()
        try:
            yield
        finally:
            self._release_s3(renewal.stop())

    # S3: conditional PUTs

    def _lease_path(self) -> Any:
        _, root = self._location.filesystem(self._spark)
        return self._spark._jvm.org.apache.hadoop.fs.Path(root, LEASE_NAME)  # type: ignore[union-attr]

    def _holder_text(self) -> str:
        now = time.time()
        return json.dumps(
            {
                "owner": self._owner,
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "app": self._spark.sparkContext.applicationId,
                "since": now,
                "until": now + self._settings.ttl_s,
            }
        )

    def _acquire_s3(self) -> str:
        fs, _ = self._location.filesystem(self._spark)
        path = self._lease_path()
        deadline = time.monotonic() + self._settings.wait_s
        holder: Holder | None = None
        while True:
            etag = self._put(fs, path, None)
            if etag is not None:
                return etag
            holder, current = self._current(fs, path)
            if holder is not None and holder.until < time.time() and current is not None:
                etag = self._put(fs, path, current)  # the holder died: take its lease over
                if etag is not None:
                    logger.warning(
                        "%s: took over the expired writer lease of %s",
                        self._what,
                        holder.text(),
                        extra={"event": "delta_lease_taken_over", "path": self._location.path},
                    )
                    return etag
            if time.monotonic() >= deadline:
                raise self._busy(holder)
            time.sleep(_POLL_S)

    def _put(self, fs: Any, path: Any, replacing: str | None) -> str | None:
        """Write the lease if it is absent (``replacing`` ``None``) or still has the ETag
        ``replacing``; return its new ETag, or ``None`` when another writer got there first."""
        builder = fs.createFile(path).overwrite(replacing is not None)
        if replacing is None:
            builder = builder.must(_CONDITIONAL, "true")
        else:
            builder = builder.must(_CONDITIONAL_ETAG, replacing)
        try:
            stream = builder.build()
            try:
                stream.write(bytearray(self._holder_text().encode()))
            finally:
                stream.close()
        except Exception as exc:
            if any(mark in line for line in java_error_chain(exc) for mark in _TAKEN):
                return None
            raise
        return str(fs.getFileStatus(path).getEtag())

    def _current(self, fs: Any, path: Any) -> tuple[Holder | None, str | None]:
        """The lease's holder and ETag now (``None`` for a lease gone meanwhile)."""
        try:
            etag = str(fs.getFileStatus(path).getEtag())
            return Holder(**json.loads(read_text(self._spark, fs, path))), etag
        except Exception as exc:
            if any("FileNotFound" in line for line in java_error_chain(exc)):
                return None, None
            raise

    def _renew(self, etag: str) -> str | None:
        fs, _ = self._location.filesystem(self._spark)
        return self._put(fs, self._lease_path(), etag)

    def _release_s3(self, etag: str | None) -> None:
        fs, _ = self._location.filesystem(self._spark)
        path = self._lease_path()
        with contextlib.suppress(Exception):  # a lease left behind expires by itself
            if etag is not None and str(fs.getFileStatus(path).getEtag()) == etag:
                fs.delete(path, False)

    def _busy(self, holder: Holder | None) -> TableBusyError:
        who = holder.text() if holder is not None else "another writer"
        return TableBusyError(
            f"{self._what}: the Delta table '{self._location.path}' is being written by {who}; "
            f"waited {self._settings.wait_s:.0f} s for it. Two writers of one table on S3 "
            "would lose a commit, so writes take turns: run again when that write is done "
            "(the runner retries this), or raise writer_lease.wait in the catalog entry."
        )

    # a local filesystem: flock

    @contextlib.contextmanager
    def _local_lock(self) -> Iterator[None]:
        folder = Path(urlsplit(self._location.path).path or self._location.path)
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / LEASE_NAME).open("a+") as file:
            self._lock_local(file)
            try:
                file.seek(0)
                file.truncate()
                file.write(self._holder_text())
                file.flush()
                yield
            finally:
                fcntl.flock(file, fcntl.LOCK_UN)

    def _lock_local(self, file: IO[str]) -> None:
        deadline = time.monotonic() + self._settings.wait_s
        while True:
            try:
                fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    file.seek(0)
                    try:
                        holder: Holder | None = Holder(**json.loads(file.read()))
                    except (ValueError, TypeError):
                        holder = None
                    raise self._busy(holder) from None
                time.sleep(_POLL_S)


class _Renewal(threading.Thread):
    """Renews the lease every quarter of its time to live while the write runs."""

    def __init__(self, lease: TableLease, etag: str) -> None:
        super().__init__(name="spark-etl-delta-lease", daemon=True)
        self._lease = lease
        self._etag: str | None = etag
        self._done = threading.Event()

    def run(self) -> None:
        interval = self._lease._settings.ttl_s / 4
        while not self._done.wait(interval) and self._etag is not None:
            try:
                self._etag = self._lease._renew(self._etag)
            except Exception as exc:  # the next renewal tries again; the lease lasts ttl_s
                logger.warning("%s: renewing the writer lease failed: %s", self._lease._what, exc)
                continue
            if self._etag is None:
                logger.error(
                    "%s: the writer lease was taken over while this write ran (it was not "
                    "renewed within %.0f s)",
                    self._lease._what,
                    self._lease._settings.ttl_s,
                    extra={"event": "delta_lease_lost", "path": self._lease._location.path},
                )

    def stop(self) -> str | None:
        """End the renewals; the lease's ETag now (``None``: lost)."""
        self._done.set()
        self.join()
        return self._etag
