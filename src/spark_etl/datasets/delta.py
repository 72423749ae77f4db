"""``DeltaDataset``: a Delta Lake table on S3 (or any Hadoop filesystem), with keys.

A table of its own rather than a format of ``S3Dataset``: a Delta table has a transaction log,
so it can take upserts (``MERGE`` on the keys), replace the rows matching a predicate, be read
as it was at a version or a time, and refuse a write that would change its schema. Plain files
can do none of that, and ``S3Dataset`` keeps its own rules for them (committers, incremental
file listings).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
from typing import Any, ClassVar

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from spark_etl._durations import duration
from spark_etl._jvm import java_error_chain, jvm_of
from spark_etl._sql_metrics import PlanNode, WriteJob
from spark_etl.contracts.guards import guard
from spark_etl.datasets._batch_keys import keep_latest, repeated_in_batch
from spark_etl.datasets._delta_lease import LeaseSettings, TableLease
from spark_etl.datasets._delta_merge import refuse_schema_change, schema_difference, upsert_merge
from spark_etl.datasets._s3_location import S3Location
from spark_etl.datasets._scd2 import (
    delta_first_versions,
    delta_scd2_merge,
    parse_scd2,
    versioned_shape,
    write_time,
)
from spark_etl.datasets._session_conf import session_settings
from spark_etl.datasets.base import EtlDataset, check_identifier, stringify_options
from spark_etl.datasets.exceptions import (
    DatasetConfigError,
    SourceMissingError,
    TableBusyError,
)

logger = logging.getLogger(__name__)

_KEY_COUNT = "__spark_etl_key_count"
_MISSING = (
    "DELTA_MISSING_DELTA_TABLE",
    "DELTA_PATH_DOES_NOT_EXIST",
    "is not a Delta table",
    "PATH_NOT_FOUND",
)
_TIME_TRAVEL = (
    "VersionNotFoundException",
    "DELTA_VERSION_NOT_FOUND",
    "DELTA_TIMESTAMP_GREATER_THAN_COMMIT",
    "DELTA_TIMESTAMP_EARLIER_THAN_COMMIT_RETENTION",
    "DELTA_CANNOT_TIME_TRAVEL",
    "DELTA_TIME_TRAVEL",
)
_CONCURRENT = (
    "ConcurrentAppendException",
    "ConcurrentWriteException",
    "ConcurrentDeleteReadException",
    "ConcurrentDeleteDeleteException",
    "ConcurrentTransactionException",
    "MetadataChangedException",
    "ProtocolChangedException",
)
#: Delta's session settings that make a MERGE idempotent (a streaming batch replayed).
_TXN_APP_ID = "spark.databricks.delta.write.txnAppId"
_TXN_VERSION = "spark.databricks.delta.write.txnVersion"
#: How many tasks list a table's folders (VACUUM), and Spark's default of it.
_LISTING_PARALLELISM = "spark.sql.sources.parallelPartitionDiscovery.parallelism"
_SPARK_LISTING_DEFAULT = "10000"


class DeltaDataset(EtlDataset):
    """A Delta Lake table under a path: append, overwrite (all, or the rows matching a
    predicate, or the partitions written) and upsert with ``MERGE``.

    Example ``catalog.yml`` entry::

        fact_sales_lake:
          type: spark_etl.datasets.DeltaDataset
          path: s3a://spark-etl-lake/fact_sales/
          credentials: s3
          write_mode: upsert
          key_columns: [sale_id]
          audit_columns: [loaded_at]     # refreshed only when another column changed
          partition_by: [sale_date]

    Reads take Delta's options in ``load_args``: ``versionAsOf: 3`` or ``timestampAsOf:
    "2026-12-01 06:00:00"`` read the table as it was (time travel). A write whose columns
    differ from the table's is refused, naming them, unless ``schema_evolution: true`` (new
    columns are added). Every write holds the table's writer lease (``_delta_lease``): a second
    process writing the same table waits for the first instead of losing a commit.
    """

    #: Delta counts the rows it writes (its commit's metrics, the ``MERGE`` command's)
    ROWS_FROM_WRITE_METRICS = True
    SUPPORTED_WRITE_MODES: ClassVar[frozenset[str]] = frozenset(
        {"append", "overwrite", "upsert", "scd2"}
    )
    #: Properties of the tables a write creates. Deletion vectors let a ``MERGE`` or an
    #: overwrite with a predicate mark the rows it replaces instead of copying every other row
    #: of their files, and a ``MERGE`` that changes no row commit nothing.
    DEFAULT_TABLE_PROPERTIES: ClassVar[dict[str, str]] = {"delta.enableDeletionVectors": "true"}

    def __init__(
        self,
        *,
        path: str,
        write_mode: str = "append",
        key_columns: list[str] | None = None,
        audit_columns: list[str] | None = None,
        dedup_order_by: str | None = None,
        partition_by: list[str] | None = None,
        replace_where: str | None = None,
        schema_evolution: bool = False,
        writer_lease: bool | dict[str, Any] = True,
        table_properties: dict[str, Any] | None = None,
        scd2: dict[str, Any] | None = None,
        credentials: dict[str, Any] | None = None,
        s3a_options: dict[str, Any] | None = None,
        load_args: dict[str, Any] | None = None,
        save_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        streaming: dict[str, Any] | None = None,
        cache: bool | dict[str, Any] | None = None,
    ) -> None:
        """Configure the dataset; nothing is read or written until ``load``/``save``.

        Args:
            path: the table's folder: ``s3a://bucket/prefix`` (``s3://`` is read as s3a), or a
                local path for tests and notebooks.
            write_mode: ``append`` (default), ``overwrite``, ``upsert`` or ``scd2``.
            key_columns: the columns that identify a row (``upsert``, ``scd2``).
            audit_columns: columns (like ``updated_at``) whose change alone is not an update.
            dedup_order_by: resolve a key repeated in one batch by the greatest value of this
                column; without it such a batch is refused, naming the keys.
            partition_by: the table's partition columns (when a write creates it).
            replace_where: with ``overwrite``: replace only the rows matching this SQL
                predicate (Delta's ``replaceWhere``); the data must match it too.
            schema_evolution: let writes add the data's new columns to the table.
            writer_lease: ``true`` (default), ``false`` (only one process ever writes the
                table, or the session uses a multi-writer log store), or ``{ttl: 60s, wait:
                10m}``: how long a lease lasts unrenewed and how long a writer waits for one.
            table_properties: Delta table properties of a table the first write creates, over
                :attr:`DEFAULT_TABLE_PROPERTIES` (``delta.enableDeletionVectors: false`` for
                readers that cannot read deletion vectors).
            scd2: with ``write_mode: scd2``: ``tracked_columns``, the names of ``valid_from``,
                ``valid_to`` and ``is_current``, ``effective_from`` and ``deletes`` (see
                ``spark_etl.datasets._scd2``).
            credentials: ``access_key``, ``secret_key``, and optionally ``endpoint``, ``region``,
                ``path_style_access``.
            s3a_options: extra s3a settings for this bucket only, without the ``fs.s3a.`` prefix.
            load_args: Delta's read options (``versionAsOf``, ``timestampAsOf``).
            save_args: Delta's write options (``partitionOverwriteMode: dynamic`` replaces only
                the partitions written; ``userMetadata``).
            metadata: free-form; ``schema`` names the Avro contract the data must meet.
            streaming: the streaming sink's settings (``checkpoint_location``, ``trigger``).
            cache: keep what a load read in Spark's cache (reference data joined into a
                stream): ``true``, or ``{refresh: 10m, broadcast: true}``.
        """
        super().__init__(
            write_mode=write_mode,
            key_columns=key_columns,
            load_args=load_args,
            save_args=save_args,
            metadata=metadata,
            streaming=streaming,
            cache=cache,
        )
        self._location = S3Location(path, credentials or {}, s3a_options or {})
        self._path = self._location.path
        self._audit_columns = [check_identifier(c, "audit column") for c in audit_columns or []]
        self._dedup_order_by = (
            check_identifier(dedup_order_by, "dedup_order_by column") if dedup_order_by else None
        )
        self._partition_by = [check_identifier(c, "partition column") for c in partition_by or []]
        if replace_where is not None and self._write_mode != "overwrite":
            raise DatasetConfigError(
                f"DeltaDataset '{self._path}': replace_where needs write_mode: overwrite (it "
                f"replaces the rows matching it); the entry's write_mode is '{self._write_mode}'."
            )
        if {"versionAsOf", "timestampAsOf"} <= set(self._load_args):
            raise DatasetConfigError(
                f"DeltaDataset '{self._path}': load_args set both versionAsOf and "
                "timestampAsOf; keep one."
            )
        self._replace_where = replace_where
        self._evolution = bool(schema_evolution)
        self._lease = _lease_settings(writer_lease, self._path)
        #: what the last write did (``files``, ``merge``, ``scd2_merge``) and its commit's metrics
        self._wrote = "files"
        self._committed: dict[str, int] | None = None
        self._scd2 = parse_scd2(scd2, self._write_mode, f"DeltaDataset '{self._path}'")
        self._table_properties = stringify_options(
            {**self.DEFAULT_TABLE_PROPERTIES, **(table_properties or {})}
        )
        if not all(key.startswith("delta.") for key in self._table_properties):
            raise DatasetConfigError(
                f"DeltaDataset '{self._path}': table_properties are Delta's own "
                f"(delta.<name>); got {', '.join(sorted(self._table_properties))}."
            )

    # reading

    def _read(self) -> DataFrame:
        spark = self._spark()
        self._location.configure(spark)
        reader = spark.read.format("delta").options(**stringify_options(self._load_args))
        with self._translated_errors("read"):
            return reader.load(self._path)

    def _exists(self) -> bool:
        spark = self._spark()
        self._location.configure(spark)
        with self._translated_errors("check"):
            return bool(DeltaTable.isDeltaTable(spark, self._path))

    def history(self, limit: int = 20) -> list[dict[str, Any]]:
        """The table's latest commits, newest first: version, timestamp, operation, metrics."""
        spark = self._spark()
        self._location.configure(spark)
        with self._translated_errors("read"):
            rows = (
                DeltaTable.forPath(spark, self._path)
                .history(limit)
                .select("version", "timestamp", "operation", "operationMetrics")
                .collect()
            )
        return [row.asDict() for row in rows]

    # writing

    def saved_shape(self, data: DataFrame) -> DataFrame:
        """``data``'s columns, and the version columns of an SCD2 table."""
        return data.limit(0) if self._scd2 is None else versioned_shape(data, self._scd2)

    def required_columns(self) -> list[str]:
        """The keys, the audit columns and ``dedup_order_by`` a save uses."""
        extra = [*self._audit_columns, *([self._dedup_order_by] if self._dedup_order_by else [])]
        if self._scd2 is not None and self._scd2.effective_from:
            extra.append(self._scd2.effective_from)
        return [*self._key_columns, *extra]

    def _save_batch(self, data: DataFrame) -> None:
        self._write(data)

    def _save_micro_batch(self, batch: DataFrame, batch_id: int) -> None:
        """A micro-batch, written once: the commit carries the query's id and the batch's
        (Delta's ``txnAppId``/``txnVersion``), and a batch replayed after a restart, which
        Delta finds committed already, is skipped."""
        self._write(batch, txn=(self._stream_app_id(), batch_id))

    def _stream_app_id(self) -> str:
        """The same for every run of the query (its checkpoint), unique per table and query."""
        assert self._streaming is not None  # only micro-batches of a streaming save come here
        seed = f"{self._streaming.checkpoint_location}|{self._path}"
        return "spark-etl-" + hashlib.sha256(seed.encode()).hexdigest()[:16]

    def _write(self, data: DataFrame, txn: tuple[str, int] | None = None) -> None:
        spark = self._spark()
        self._location.configure(spark)
        with self._translated_errors("write"), self._held(spark):
            before = self._latest_version(spark)
            if before is not None:
                self._check_schema(spark, data)
            if self._write_mode in ("upsert", "scd2"):
                data = self._one_row_per_key(data)
            if self._scd2 is not None:
                self._write_versions(spark, data, txn, creates=before is None)
            elif self._write_mode == "upsert" and before is not None:
                self._merge(spark, data, txn)
            else:
                self._write_files(data, txn, creates=before is None)
            self._committed = self._log_commit(spark, before)

    def _rows_written(self, job: WriteJob | None) -> int | None:
        """The batch's rows, as Delta counted them: a ``MERGE`` counts its source rows (also
        when it changed nothing and committed nothing; an SCD2 source holds each changed row
        twice, once per row it closes), a file write its commit's output rows."""
        if self._wrote == "files":
            return (self._committed or {}).get("numOutputRows")
        source = job.command_count(_MERGE_COMMAND, "number of source rows") if job else None
        if source is None or self._wrote == "merge":
            return source
        assert job is not None  # a counted source came from the job
        closed = job.command_count(_MERGE_COMMAND, "number of rows updated by a matched clause")
        return source - (closed or 0)

    def _held(self, spark: SparkSession) -> Any:
        if self._lease is None:
            return contextlib.nullcontext()
        lease = TableLease(spark, self._location, self._lease, what=f"DeltaDataset {self._path}")
        return lease.held()

    def _latest_version(self, spark: SparkSession) -> int | None:
        """The table's latest version (``None``: no table yet)."""
        if not DeltaTable.isDeltaTable(spark, self._path):
            return None
        return _snapshot_version(DeltaTable.forPath(spark, self._path))

    def _check_schema(self, spark: SparkSession, data: DataFrame) -> None:
        table = spark.read.format("delta").load(self._path).schema
        if self._scd2 is not None:  # the versions' own columns are the dataset's, not the data's
            kept = set(self._scd2.version_columns)
            table = StructType([f for f in table.fields if f.name not in kept])
        refused = refuse_schema_change(
            schema_difference(data.schema, table), path=self._path, evolution=self._evolution
        )
        if refused is not None:
            raise refused

    def _one_row_per_key(self, data: DataFrame) -> DataFrame:
        """The rule of every upserting sink: a key at most once per batch (the greatest
        ``dedup_order_by`` wins), else the batch is refused naming the keys. The check is a
        guard in the plan: the write job itself fails on the first repeated key."""
        if self._dedup_order_by:
            return keep_latest(data, self._key_columns, self._dedup_order_by, data.columns)
        keys = self._key_columns
        counted = data.withColumn(_KEY_COUNT, F.count(F.lit(1)).over(Window.partitionBy(*keys)))
        guarded = guard(
            counted,
            f"repeated key in the upsert into {self._path}",
            [F.col(_KEY_COUNT) > 1],
            lambda: repeated_in_batch(
                data, keys, table=self._path, database_says="a key more than once"
            ),
        )
        return guarded.drop(_KEY_COUNT)

    def _merge(self, spark: SparkSession, data: DataFrame, txn: tuple[str, int] | None) -> None:
        target = DeltaTable.forPath(spark, self._path)
        merge = upsert_merge(
            target,
            data,
            keys=self._key_columns,
            audit=self._audit_columns,
            evolution=self._evolution,
            table_columns=target.toDF().columns,
        )
        self._wrote = "merge"
        _execute(spark, merge, txn)

    def _write_versions(
        self, spark: SparkSession, data: DataFrame, txn: tuple[str, int] | None, *, creates: bool
    ) -> None:
        """SCD2: the first write creates the table with every row current; later ones are one
        ``MERGE`` that closes changed versions and opens new ones."""
        assert self._scd2 is not None  # only an scd2 entry writes versions
        tracked = self._scd2.tracked(data.columns, self._key_columns)
        now = write_time()
        if creates:
            self._write_files(delta_first_versions(data, self._scd2, now), txn, creates=True)
            return
        merge = delta_scd2_merge(
            DeltaTable.forPath(spark, self._path),
            data,
            keys=self._key_columns,
            tracked=tracked,
            settings=self._scd2,
            now=now,
        )
        self._wrote = "scd2_merge"
        _execute(spark, merge, txn)

    def _write_files(self, data: DataFrame, txn: tuple[str, int] | None, *, creates: bool) -> None:
        """Append, overwrite, or create the table (the first upsert)."""
        mode = "overwrite" if self._write_mode == "overwrite" else "append"
        options = {**(self._table_properties if creates else {})}
        options.update(stringify_options(self._save_args))
        if self._replace_where is not None:
            options["replaceWhere"] = self._replace_where
        if self._evolution:
            options["mergeSchema"] = "true"
        if txn is not None:
            options["txnAppId"], options["txnVersion"] = txn[0], str(txn[1])
        self._wrote = "files"
        writer = data.write.format("delta").mode(mode).options(**options)
        if self._partition_by:
            writer = writer.partitionBy(*self._partition_by)
        writer.save(self._path)

    def _log_commit(self, spark: SparkSession, before: int | None) -> dict[str, int] | None:
        """Log the write's commit: version, operation and Delta's metrics of it, which it
        returns (``None``: the write changed nothing, as a ``MERGE`` of rows the table holds
        already, or a replayed micro-batch)."""
        table = DeltaTable.forPath(spark, self._path)
        version = _snapshot_version(table)
        if before is not None and version <= before:
            logger.info(
                "DeltaDataset %s: nothing changed, no new version",
                self._path,
                extra={"event": "delta_commit", "path": self._path, "version": before},
            )
            return None
        commit = _commit_info(spark, table, version)
        raw = commit.get("operationMetrics") or {}
        metrics = {k: int(v) for k, v in raw.items() if str(v).isdigit()}
        logger.info(
            "DeltaDataset %s: version %s (%s)",
            self._path,
            version,
            commit.get("operation"),
            extra={
                "event": "delta_commit",
                "path": self._path,
                "version": version,
                "operation": commit.get("operation"),
                "metrics": metrics,
            },
        )
        return metrics

    def _commits_atomically(self) -> bool:
        """A Delta write becomes visible with its commit, or not at all."""
        return True

    # maintenance

    def optimize(self, where: str | None = None, z_order_by: list[str] | None = None) -> Any:
        """Compact the table's small files (``OPTIMIZE``, of the rows matching ``where``),
        optionally Z-ordered by ``z_order_by``; the commit's metrics as a DataFrame."""
        spark = self._spark()
        self._location.configure(spark)
        with self._translated_errors("optimize"), self._held(spark):
            builder = DeltaTable.forPath(spark, self._path).optimize()
            if where:
                builder = builder.where(where)
            if z_order_by:
                return builder.executeZOrderBy(*z_order_by)
            return builder.executeCompaction()

    def vacuum(self, retain: str | None = None) -> None:
        """Delete the files no version within ``retain`` (Delta's default: 7 days) reads."""
        spark = self._spark()
        self._location.configure(spark)
        hours = None if retain is None else duration(retain).total_seconds() / 3600
        # VACUUM lists the table's folders in as many tasks as this setting says; Spark's default
        # (10,000, for clusters listing millions of folders) turns a small table's listing into
        # thousands of empty tasks. The session's own value, where spark.yml set one, is kept.
        listing = {}
        if spark.conf.get(_LISTING_PARALLELISM) == _SPARK_LISTING_DEFAULT:
            listing = {_LISTING_PARALLELISM: str(spark.sparkContext.defaultParallelism)}
        with (
            self._translated_errors("vacuum"),
            self._held(spark),
            session_settings(spark, listing),
        ):
            DeltaTable.forPath(spark, self._path).vacuum(hours)

    # the rest of the dataset's surface

    def system(self) -> str:
        """``s3://`` and the endpoint, or AWS's S3 in its region."""
        return self._location.system()

    def target_label(self) -> str:
        """The table's path."""
        return self._path

    def scanned_in(self, scan: PlanNode) -> bool:
        """A scan of the table's files (Delta's file index names the table's path)."""
        root = re.escape(self._path.rstrip("/"))
        return re.search(rf"[\[ ]{root}/?[,\]]", scan.desc) is not None

    def _describe(self) -> dict[str, Any]:
        return {
            "path": self._path,
            "endpoint": self._location.endpoint,
            "partition_by": self._partition_by,
            "audit_columns": self._audit_columns,
            "replace_where": self._replace_where,
            "schema_evolution": self._evolution,
            **super()._describe(),
        }

    def _translate(self, exc: Exception, action: str) -> Exception | None:
        chain = java_error_chain(exc)
        text = " | ".join(chain)
        if action == "read" and any(mark in text for mark in _MISSING):
            return SourceMissingError(
                f"DeltaDataset: there is no Delta table at '{self._path}' (no _delta_log). "
                "Write it first (the pipeline that produces it), or fix 'path' in the catalog "
                "entry."
            )
        translated = self._location.translate(exc, action, "DeltaDataset")
        if translated is not None:
            return translated
        first = (chain[0].strip().splitlines() or ["?"])[0][:400] if chain else str(exc)
        if any(mark in text for mark in _TIME_TRAVEL):
            return DatasetConfigError(
                f"DeltaDataset '{self._path}': cannot read the table as of "
                f"{_as_of(self._load_args)}: {first}. Fix versionAsOf/timestampAsOf in "
                "load_args (`kedro spark-etl delta history` lists the versions)."
            )
        if any(mark in text for mark in _CONCURRENT):
            return TableBusyError(
                f"DeltaDataset '{self._path}': another write committed to the table while this "
                f"one ran and the two conflict ({first}); nothing of this write was committed. "
                "Run again (the runner retries this)."
            )
        return None


#: The command a ``MERGE`` runs as, in Spark's SQL plans.
_MERGE_COMMAND = "MergeIntoCommand"


def _snapshot_version(table: DeltaTable) -> int:
    """The version of ``table`` as ``DeltaTable.forPath`` brought it up to date, or as this driver
    last committed it: the log's snapshot, without the Spark job of a history query."""
    return int(table._jdt.deltaLog().unsafeVolatileSnapshot().version())


def _commit_info(spark: SparkSession, table: DeltaTable, version: int) -> dict[str, Any]:
    """The ``commitInfo`` action of the commit ``version`` of ``table`` (its operation and
    metrics), read from the commit's file in the log (``<version, 20 digits>.json``, Delta's
    protocol), where a history query would run a Spark job over the log."""
    log = table._jdt.deltaLog()
    commit_file = jvm_of(spark).org.apache.hadoop.fs.Path(log.logPath(), f"{version:020d}.json")
    actions = log.store().read(commit_file, log.newDeltaHadoopConf()).iterator()
    while actions.hasNext():
        action = json.loads(actions.next())
        if "commitInfo" in action:
            return dict(action["commitInfo"])
    return {}


def _execute(spark: SparkSession, merge: Any, txn: tuple[str, int] | None) -> None:
    """Run a ``DeltaMergeBuilder``; for a streaming micro-batch (``txn``: the query's id and
    the batch's) with Delta's session settings that make it idempotent, for its commit only."""
    if txn is None:
        merge.execute()
        return
    with session_settings(spark, {_TXN_APP_ID: txn[0], _TXN_VERSION: str(txn[1])}):
        merge.execute()


def _as_of(load_args: dict[str, Any]) -> str:
    for key in ("versionAsOf", "timestampAsOf"):
        if key in load_args:
            return f"{key}={load_args[key]!r}"
    return "its latest version"


def _lease_settings(raw: bool | dict[str, Any], path: str) -> LeaseSettings | None:
    """The writer lease of the catalog entry (``None``: writes take no lease)."""
    if raw is False:
        return None
    if raw is True:
        return LeaseSettings()
    if not isinstance(raw, dict) or set(raw) - {"ttl", "wait"}:
        raise DatasetConfigError(
            f"DeltaDataset '{path}': writer_lease is true, false, or {{ttl: 60s, wait: 10m}}; "
            f"got {raw!r}."
        )
    try:
        values = {f"{key}_s": duration(str(value)).total_seconds() for key, value in raw.items()}
    except ValueError as exc:
        raise DatasetConfigError(f"DeltaDataset '{path}': writer_lease: {exc}") from None
    return LeaseSettings(**values)
