"""``S3Dataset``: files on S3 (or any Hadoop filesystem) through s3a: Avro, Parquet, CSV, JSON."""

from __future__ import annotations

import logging
import re
import tempfile
from typing import TYPE_CHECKING, Any, ClassVar

from pyspark.sql import DataFrame

from spark_etl._sql_metrics import PlanNode
from spark_etl.contracts import conform
from spark_etl.datasets._real_time import is_real_time, refuse_sink
from spark_etl.datasets._s3_files import FileWindow
from spark_etl.datasets._s3_location import S3Location
from spark_etl.datasets._streaming import claim, trigger_args
from spark_etl.datasets.base import EtlDataset, LoadMetrics, stringify_options
from spark_etl.datasets.exceptions import DatasetConfigError

if TYPE_CHECKING:
    from spark_etl.datasets._state import StateSlot

logger = logging.getLogger(__name__)

FORMATS = ("avro", "parquet", "csv", "json")
COMMITTERS = ("magic", "directory", "partitioned", "file")
_S3A_COMMITTER_FACTORY = "org.apache.hadoop.fs.s3a.commit.S3ACommitterFactory"
_CLOUD_COMMIT_PROTOCOL = "org.apache.spark.internal.io.cloud.PathOutputCommitProtocol"


class S3Dataset(EtlDataset):
    """Reads and writes a folder of files on S3 through Hadoop's s3a connector.

    Example ``catalog.yml`` entry::

        raw_user_events:
          type: spark_etl.datasets.S3Dataset
          path: s3a://spark-etl-raw/user_events/
          file_format: csv
          credentials: s3
          load_args:
            header: true
            schema: "event_id STRING, user_id STRING, event_type STRING, timestamp TIMESTAMP"

    ``credentials`` (from ``credentials.yml``) hold ``access_key`` and ``secret_key``, and may hold
    ``endpoint``, ``region`` and ``path_style_access`` for S3-compatible servers; they are set for
    the one bucket of ``path`` only. Write modes: ``append`` and ``overwrite`` (with
    ``save_args: {partitionOverwriteMode: dynamic}`` only the partitions written are replaced).
    An overwrite writes the new files first and removes the old ones once the new ones are
    committed: a failed write leaves the folder as it was (a reader listing the folder in
    between may see both).
    ``upsert`` is refused: plain files have no keys to merge on.
    """

    SUPPORTED_WRITE_MODES: ClassVar[frozenset[str]] = frozenset({"append", "overwrite"})
    ROWS_FROM_WRITE_METRICS = True
    DEFAULT_SAVE_ARGS: ClassVar[dict[str, Any]] = {}

    def __init__(
        self,
        *,
        path: str,
        file_format: str = "avro",
        write_mode: str = "overwrite",
        partition_by: list[str] | None = None,
        load_args: dict[str, Any] | None = None,
        save_args: dict[str, Any] | None = None,
        credentials: dict[str, Any] | None = None,
        s3a_options: dict[str, Any] | None = None,
        committer: str = "file",
        incremental: bool | dict[str, Any] = False,
        metadata: dict[str, Any] | None = None,
        streaming: dict[str, Any] | None = None,
        cache: bool | dict[str, Any] | None = None,
    ) -> None:
        """Configure the dataset; nothing is read or written until ``load``/``save``.

        Args:
            path: ``s3a://bucket/prefix`` (``s3://`` is accepted and read as s3a); a local path
                or ``file://`` URL works too, for tests and notebooks. Globs are allowed on load.
            file_format: ``avro`` (default, snappy), ``parquet``, ``csv`` or ``json``.
            write_mode: ``overwrite`` (default) or ``append``.
            partition_by: columns to partition the output folders by.
            incremental: a load reads only the files not processed by an earlier successful run
                (``true``, or ``{lag: 15 minutes}``; see ``spark_etl.datasets._s3_files`` and
                docs/operations.md).
            load_args: options for ``spark.read`` (``schema`` takes a DDL string).
            save_args: options for ``DataFrame.write`` (``compression``,
                ``partitionOverwriteMode``).
            credentials: ``access_key``, ``secret_key``, and optionally ``endpoint``, ``region``,
                ``path_style_access``.
            s3a_options: extra s3a settings for this bucket only, without the ``fs.s3a.``
                prefix, e.g. ``{"retry.limit": 2, "connection.timeout": "5s"}``.
            committer: the output committer of writes to s3a: ``file`` (default: Hadoop's
                classic committer; tasks write under ``_temporary`` and the job commit moves
                the files, so a failed job leaves no data file behind), or one of the S3A
                committers ``magic``, ``directory``, ``partitioned``, which need
                spark-hadoop-cloud's ``PathOutputCommitProtocol`` (see the README's S3 section).
            metadata: free-form; ``schema`` names the Avro contract the data must meet.
        """
        super().__init__(
            write_mode=write_mode,
            load_args=load_args,
            save_args=save_args,
            metadata=metadata,
            streaming=streaming,
            cache=cache,
        )
        if file_format not in FORMATS:
            raise DatasetConfigError(
                f"S3Dataset '{path}': unknown file_format '{file_format}'; use one of "
                f"{', '.join(FORMATS)}."
            )
        self._location = S3Location(path, credentials or {}, s3a_options or {})
        self._path = self._location.path
        self._format = file_format
        self._partition_by = partition_by or []
        if committer not in COMMITTERS:
            raise DatasetConfigError(
                f"S3Dataset '{path}': unknown committer '{committer}'; use one of "
                f"{', '.join(COMMITTERS)}."
            )
        self._committer = committer
        self._files = FileWindow.parse(incremental, path)
        if self._files is not None and any(c in path for c in "*?[{"):
            raise DatasetConfigError(
                f"S3Dataset '{path}': incremental reads list the files under one folder; the "
                "path cannot be a glob."
            )
        if self._format == "avro":
            self._save_args.setdefault("compression", "snappy")

    def _unsupported_mode_message(self, mode: str) -> str:
        return (
            f"S3Dataset cannot '{mode}': plain files have no keys to merge on. Write with "
            "'append' or 'overwrite' (dynamic partition overwrite replaces only the partitions "
            "written), or upsert into a JDBC table."
        )

    @property
    def bucket(self) -> str | None:
        """The bucket of an s3a path, else ``None``."""
        return self._location.bucket

    def _read(self) -> DataFrame:
        """Read the files (globs and partition discovery as Spark does them)."""
        spark = self._spark()
        self._configure_bucket()
        args = dict(self._load_args)
        schema = args.pop("schema", None)
        reader = spark.read.format(self._format).options(**stringify_options(args))
        if schema is not None:
            reader = reader.schema(schema)
        with self._translated_errors("read"):
            if self._files is not None and self._state is not None:
                return self._new_files(reader, self._files, self._state)
            return reader.load(self._path)

    @property
    def incremental(self) -> bool:
        """Whether a load reads only the files earlier successful runs did not."""
        return self._files is not None

    def _new_files(self, reader: Any, window: FileWindow, state: StateSlot) -> DataFrame:
        """The files not processed yet (their new mark held in ``state``)."""
        listed = [(name, modified) for _, name, modified in self._data_file_statuses()]
        fs, root = self._filesystem()
        if not listed and not fs.exists(root):
            return reader.load(self._path)  # a missing folder is named as for any read
        new, position = window.new_files(listed, state.committed())
        state.hold(position)
        logger.info(
            "S3Dataset %s: reading %d new file(s) of %d",
            self._path,
            len(new),
            len(listed),
            extra={"event": "incremental_range", "files": len(new), "listed": len(listed)},
        )
        if not new:
            self.last_load = LoadMetrics(known={"records": 0})
            return reader.load(self._path).limit(0)
        root = self._path.rstrip("/")
        return reader.option("basePath", root).load([f"{root}/{name}" for name in new])

    def _real_time_refused(self) -> Exception:
        """The error for ``trigger: real-time``: this sink writes with Spark's file sink."""
        return refuse_sink(f"S3Dataset '{self._path}'", "with Spark's file sink")

    def save(self, data: DataFrame) -> None:
        """Batch: write with the write mode. Streaming: Spark's file sink, exactly once."""
        if not data.isStreaming:
            super().save(data)
            return
        if self._streaming is None:
            raise DatasetConfigError(
                f"S3Dataset '{self._path}' was given a streaming DataFrame but has no "
                "'streaming' settings: add streaming: {checkpoint_location: ...} to its entry."
            )
        if is_real_time(trigger_args(self._streaming.trigger)):
            raise self._real_time_refused()
        data = self._checked(data, "save")
        self._configure_bucket()
        for work in claim(data):  # the file sink has no place to run it after each batch
            work.fallback()
        contract = self._contract()
        options = stringify_options(self._save_args)
        if contract is not None and self._format == "avro":
            data = conform(data, contract)
            options.setdefault("avroSchema", contract.avro_json)
        # The file sink records each batch's files in _spark_metadata: a replayed batch after a
        # restart is not written twice, and readers of the folder see only committed files.
        writer = (
            data.writeStream.format(self._format)
            .options(**options)
            .option("checkpointLocation", self._streaming.checkpoint_location)
            .outputMode("append")
            .trigger(**trigger_args(self._streaming.trigger))
        )
        if self._partition_by:
            writer = writer.partitionBy(*self._partition_by)
        if self._streaming.query_name:
            writer = writer.queryName(self._streaming.query_name)
        with self._translated_errors("stream to"):
            self.query = writer.start(self._path)

    def system(self) -> str:
        """``s3://`` and the endpoint (host and port), or AWS's S3 in its region."""
        return self._location.system()

    def target_label(self) -> str:
        """The dataset's path."""
        return self._path

    def scanned_in(self, scan: PlanNode) -> bool:
        """A file scan whose location is this dataset's path, or files under it (an
        incremental read lists them)."""
        root = re.escape(self._path.rstrip("/"))
        return re.search(rf"[\[ ]{root}(/[^,\]]*)?[,\]]", scan.desc) is not None

    def _save_batch(self, data: DataFrame) -> None:
        self._configure_bucket()
        args = dict(self._save_args)
        contract = self._contract()
        if contract is not None and self._format == "avro":
            # The files carry the registered schema (names, enums, logical types), not one
            # derived from the DataFrame: Avro between stages means the contract's Avro.
            data = conform(data, contract)
            args.setdefault("avroSchema", contract.avro_json)
        overwrite_mode = args.pop("partitionOverwriteMode", None)
        replace = self._write_mode == "overwrite" and overwrite_mode != "dynamic"
        writer = (
            data.write.format(self._format)
            # Spark's static overwrite deletes the old files before the job runs: a failed job
            # would lose them. Write the new files first, then remove the old ones.
            .mode("append" if replace else self._write_mode)
            .options(**stringify_options(args))
        )
        if overwrite_mode is not None:
            writer = writer.option("partitionOverwriteMode", overwrite_mode)
        writer = writer.options(**self._committer_options(overwrite_mode))
        if self._partition_by:
            writer = writer.partitionBy(*self._partition_by)
        with self._translated_errors("write"):
            fs, root = self._filesystem()
            existed = bool(fs.exists(root))
            old = self._data_files() if replace and existed else []
            try:
                writer.save(self._path)
            except Exception:
                if not existed:
                    self._remove_if_empty(fs, root)
                raise
            self._remove(old)

    def _remove_if_empty(self, fs: Any, root: Any) -> None:
        """After a failed first write, delete the folder the aborted job left (on S3 an empty
        directory marker) so the dataset does not look written; a folder with data stays."""
        try:
            if fs.exists(root) and not self._data_files():
                fs.delete(root, True)
        except Exception:
            logger.warning("S3Dataset %s: could not remove the empty folder", self._path)

    def files_modified_since(self, epoch_ms: int) -> list[str]:
        """The data files under the path modified after ``epoch_ms`` (relative to the folder):
        what a file-arrival trigger waits for."""
        self._configure_bucket()
        with self._translated_errors("list"):
            listed = self._data_file_statuses()
        return sorted(relative for _, relative, modified in listed if modified > epoch_ms)

    def _data_files(self) -> list[Any]:
        """The data files under the path now (Hadoop paths)."""
        return [path for path, _, _ in self._data_file_statuses()]

    def _data_file_statuses(self) -> list[tuple[Any, str, int]]:
        """The data files under the path now: Hadoop path, path relative to the folder, and
        modification time (epoch ms), skipping hidden ones as Spark does (``_SUCCESS``,
        ``_temporary``, ``.crc``; ``_col=value`` folders are data)."""
        fs, root = self._filesystem()
        if not fs.exists(root):
            return []
        prefix = len(str(fs.makeQualified(root)).rstrip("/")) + 1
        found, files = [], fs.listFiles(root, True)
        while files.hasNext():
            status = files.next()
            path = status.getPath()
            relative = str(path)[prefix:]
            if not any(_hidden(part) for part in relative.split("/")):
                found.append((path, relative, int(status.getModificationTime())))
        return found

    def _remove(self, files: list[Any]) -> None:
        """Delete the files an overwrite replaced (after the new ones are committed)."""
        if not files:
            return
        fs, _ = self._filesystem()
        for path in files:
            fs.delete(path, False)
        logger.info(
            "S3Dataset %s: removed %d file(s) replaced by the overwrite",
            self._path,
            len(files),
            extra={"event": "overwrite_cleanup", "path": self._path, "files": len(files)},
        )

    def _filesystem(self) -> tuple[Any, Any]:
        return self._location.filesystem(self._spark())

    def _commits_atomically(self) -> bool:
        """New files become visible at job commit (the committer); an overwrite removes the old
        files only after it, so a failed write leaves the folder as it was."""
        return True

    def _committer_options(self, overwrite_mode: str | None) -> dict[str, str]:
        """Per-write Hadoop settings that pick an S3A committer, when one was asked for.

        Spark's default commit protocol gives tasks a staging folder only for Hadoop's classic
        ``FileOutputCommitter``; with any other committer tasks write straight to the
        destination and a failed job leaves partial files there. The S3A committers (which
        upload files as multipart uploads completed at job commit, with no rename) are
        therefore used only under spark-hadoop-cloud's ``PathOutputCommitProtocol``; without
        it the write is refused rather than risk half-written data. Parquet (whose writer
        insists on its own committer) and dynamic partition overwrite (which Spark implements
        with renames of a staging folder) always keep the classic committer.
        """
        if self.bucket is None or self._committer == "file":
            return {}
        if self._format == "parquet" or overwrite_mode == "dynamic":
            return {}
        protocol = self._spark().conf.get("spark.sql.sources.commitProtocolClass", None)
        if protocol != _CLOUD_COMMIT_PROTOCOL:
            raise DatasetConfigError(
                f"S3Dataset '{self._path}': committer '{self._committer}' needs Spark's "
                f"commit protocol {_CLOUD_COMMIT_PROTOCOL} (from the spark-hadoop-cloud "
                f"jar); without it a failed job would leave partial files in the folder. Add "
                f"spark-hadoop-cloud to deps/connectors/pom.xml and set "
                f"spark.sql.sources.commitProtocolClass={_CLOUD_COMMIT_PROTOCOL} in "
                f"conf/base/spark.yml, or use committer: file (the default)."
            )
        return {
            "mapreduce.outputcommitter.factory.scheme.s3a": _S3A_COMMITTER_FACTORY,
            "fs.s3a.committer.name": self._committer,
            "fs.s3a.committer.staging.tmp.path": f"file://{tempfile.gettempdir()}/spark-etl-s3a",
        }

    def _exists(self) -> bool:
        self._configure_bucket()
        with self._translated_errors("check"):
            fs, root = self._filesystem()
            return bool(fs.exists(root))

    def _describe(self) -> dict[str, Any]:
        return {
            "path": self._path,
            "file_format": self._format,
            "endpoint": self._location.endpoint,
            "partition_by": self._partition_by,
            **super()._describe(),
        }

    def _configure_bucket(self) -> None:
        """Set credentials and endpoint for this dataset's bucket only (s3a per-bucket config)."""
        self._location.configure(self._spark())

    def _translate(self, exc: Exception, action: str) -> Exception | None:
        return self._location.translate(exc, action, "S3Dataset")


def _hidden(name: str) -> bool:
    """Spark's rule for files and folders a reader skips."""
    return name.startswith(".") or (name.startswith("_") and "=" not in name)
