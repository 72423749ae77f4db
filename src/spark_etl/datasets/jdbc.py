"""``JDBCDataset``: tables in PostgreSQL and MySQL/MariaDB, read in parallel, written atomically.

Every write goes through a staging table: Spark loads the batch into it in parallel, then one
database transaction moves it into the target (``append``: insert; ``overwrite``: delete then
insert, or a table swap; ``upsert``: ``INSERT ... ON CONFLICT`` / ``ON DUPLICATE KEY UPDATE``).
So a failed write changes nothing in the target, and re-running an upsert of the same data is a
no-op.

A key repeated within one upsert batch is refused without an extra pass over the data: PostgreSQL's
``ON CONFLICT DO UPDATE`` fails on it by itself; for MySQL the staging table gets the key as its
primary key, so the load fails. Only then are the repeated keys looked up, to name them.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar

from pyspark.sql import DataFrame
from pyspark.sql.types import StructType

from spark_etl._jvm import (
    UNREACHABLE,
    is_jvm_error,
    java_error_chain,
    jvm_of,
    jvm_time_zone,
    sql_state,
)
from spark_etl._sql_metrics import PlanNode
from spark_etl.datasets import _bulk
from spark_etl.datasets._batch_keys import keep_latest, repeated_in_batch
from spark_etl.datasets._dialects import TableName, dialect_for
from spark_etl.datasets._jdbc_commit import commit_staged
from spark_etl.datasets._jdbc_connection import (
    Bound,
    HeldConnection,
    execute,
    open_connection,
    server_major_version,
    server_version,
    table_exists,
    unique_column_sets,
)
from spark_etl.datasets._jdbc_cursor import Cursor
from spark_etl.datasets._jdbc_direct import (
    DEFAULT_SMALL_BATCH_ROWS,
    SmallBatches,
    collect_small,
)
from spark_etl.datasets._jdbc_keys import (
    duplicate_entry,
    is_duplicate_key,
    met_a_key_twice,
    repeated_in_staging,
)
from spark_etl.datasets._jdbc_values import json_to_nested, nested_to_json
from spark_etl.datasets._scd2 import (
    parse_scd2,
    version_columns,
    versioned_shape,
    with_version_columns,
    write_time,
)
from spark_etl.datasets._streaming import before_commit
from spark_etl.datasets.base import EtlDataset, LoadMetrics, check_identifier
from spark_etl.datasets.exceptions import (
    AuthenticationError,
    DatasetConfigError,
    SourceUnavailableError,
    WriteRejectedError,
)

if TYPE_CHECKING:
    from spark_etl.datasets._state import StateSlot

logger = logging.getLogger(__name__)

OVERWRITE_STRATEGIES = ("truncate", "replace")
UPSERT_STATEMENTS = ("on_conflict", "merge")
_MERGE_SINCE = 15  # PostgreSQL's first version with MERGE
# SQLState classes of a write the database refused for its data: 21 cardinality, 22 data
# exception (a value too long, out of range, malformed), 23 integrity constraint.
_REJECTED_STATES = ("21", "22", "23")
#: Connector/J says "Communications link failure" where others say they could not connect.
_UNREACHABLE = (*UNREACHABLE, "Communications link")


class JDBCDataset(EtlDataset):
    """A table (or query) in PostgreSQL or MySQL/MariaDB.

    Example ``catalog.yml`` entry::

        user_summary:
          type: spark_etl.datasets.JDBCDataset
          url: jdbc:postgresql://127.0.0.1:25432/spark_etl
          table: user_summary
          credentials: postgres          # user, password
          write_mode: upsert
          key_columns: [user_id]
          audit_columns: [updated_at]    # refreshed only when another column changed

    Reads take ``table`` or ``query``; ``load_args`` go to Spark's JDBC reader (``partitionColumn``,
    ``lowerBound``, ``upperBound``, ``numPartitions`` for parallel reads, ``fetchsize``).
    ``save_args`` go to the writer that fills the staging table (``batchsize``, ``numPartitions``).
    ``cache: {refresh: 10m, broadcast: true}`` (or ``true``) keeps what a load read in Spark's
    cache: a reference table joined into a stream is then read once per refresh, not once per
    micro-batch (``spark_etl.datasets._cache``). A streaming micro-batch is written over at most
    one connection per task slot unless ``numPartitions`` is set: it arrives in as many
    partitions as the query's state (``spark.sql.shuffle.partitions``), most of them nearly
    empty.

    ``bulk_load: true`` fills the staging table through ``COPY`` / ``LOAD DATA LOCAL INFILE``
    from text files Spark writes (under ``bulk_load_path`` on a cluster) instead of batched
    inserts: faster for large batches. ``upsert_statement: merge`` (PostgreSQL 15 and later)
    commits an upsert with ``MERGE``, which joins the batch with the target instead of probing
    its key once per row: faster when a batch is a large part of the table; a commit that
    ``MERGE`` refuses for a concurrent change is done again with ``ON CONFLICT``.

    Upsert needs ``key_columns`` that form the target's primary key or a unique index. A batch that
    holds one key twice is rejected, naming the keys, unless ``dedup_order_by`` names a column: then
    the row with the greatest value of that column wins (ties go to the greatest row). A missing
    target table is created from the DataFrame's schema, with a primary key on ``key_columns``.
    """

    DEFAULT_SAVE_ARGS: ClassVar[dict[str, Any]] = {"batchsize": 10000}
    DEFAULT_LOAD_ARGS: ClassVar[dict[str, Any]] = {"fetchsize": 10000}

    def __init__(
        self,
        *,
        url: str,
        table: str | None = None,
        query: str | None = None,
        credentials: dict[str, Any] | None = None,
        write_mode: str = "append",
        key_columns: list[str] | None = None,
        audit_columns: list[str] | None = None,
        dedup_order_by: str | None = None,
        overwrite_strategy: str = "truncate",
        create_table: bool = True,
        bulk_load: bool = False,
        bulk_load_path: str | None = None,
        upsert_statement: str = "on_conflict",
        scd2: dict[str, Any] | None = None,
        incremental: dict[str, Any] | None = None,
        load_args: dict[str, Any] | None = None,
        save_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        streaming: dict[str, Any] | None = None,
        cache: bool | dict[str, Any] | None = None,
        small_batch_rows: int | str = DEFAULT_SMALL_BATCH_ROWS,
    ) -> None:
        """Configure the dataset; the database is first contacted on ``load``, ``save``, ``exists``.

        Args:
            url: ``jdbc:postgresql://host:port/db`` or ``jdbc:mysql://host:port/db``; no secrets.
            table: ``table`` or ``schema.table``; needed to write.
            query: a SELECT to read instead of a table.
            credentials: ``user`` and ``password`` (plus any other JDBC connection property).
            write_mode: ``append`` (default), ``overwrite``, ``upsert`` or ``scd2``.
            key_columns: the columns identifying a row; required for ``upsert`` and ``scd2``.
            audit_columns: columns (like ``updated_at``) whose change alone is not an update.
            dedup_order_by: resolve duplicate keys in a batch by the greatest value of this
                column.
            overwrite_strategy: ``truncate`` (keep the table's DDL, indexes and grants) or
                ``replace`` (drop it and create it anew from the DataFrame's schema).
            create_table: create a missing target table from the DataFrame's schema.
            bulk_load: fill the staging table with the database's bulk path (``COPY`` /
                ``LOAD DATA LOCAL INFILE``) from text files Spark writes, instead of batched
                inserts from every task.
            bulk_load_path: the folder for those files (``s3a://``, ``hdfs://``, a shared
                ``file://`` mount); needed unless the master is local.
            upsert_statement: how PostgreSQL commits an upsert: ``on_conflict`` (default,
                ``INSERT ... ON CONFLICT``) or ``merge`` (``MERGE``, PostgreSQL 15+).
            scd2: with ``write_mode: scd2``: ``tracked_columns``, the names of ``valid_from``,
                ``valid_to`` and ``is_current``, ``effective_from`` and ``deletes`` (see
                ``spark_etl.datasets._scd2``).
            incremental: read only rows whose cursor column passed the mark the last
                successful run committed: ``{cursor: updated_at, initial: ..., lag: 10
                minutes}`` (see ``spark_etl.datasets._jdbc_cursor`` and docs/operations.md).
            load_args: options for Spark's JDBC reader.
            save_args: options for Spark's JDBC writer.
            metadata: free-form; ``schema`` names the Avro contract of the data.
            small_batch_rows: a streaming micro-batch of at most this many rows is appended or
                upserted into PostgreSQL in one statement from the driver, without a staging
                table (``spark_etl.datasets._jdbc_direct``); 0 (the default) writes every batch
                through one.
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
        self._dialect = dialect_for(url)
        self._url = url
        self._table = _checked_table(table) if table else None
        if (table is None) == (query is None):
            raise DatasetConfigError(
                f"JDBCDataset '{url}': give exactly one of 'table' and 'query'."
            )
        self._query = query
        self._credentials = {k: str(v) for k, v in (credentials or {}).items()}
        self._audit_columns = [check_identifier(c, "audit column") for c in audit_columns or []]
        self._dedup_order_by = (
            check_identifier(dedup_order_by, "dedup_order_by column") if dedup_order_by else None
        )
        if overwrite_strategy not in OVERWRITE_STRATEGIES:
            raise DatasetConfigError(
                f"JDBCDataset '{table}': unknown overwrite_strategy '{overwrite_strategy}'; use "
                f"{' or '.join(OVERWRITE_STRATEGIES)}."
            )
        self._overwrite_strategy = overwrite_strategy
        self._create_table = create_table
        if bulk_load_path and not bulk_load:
            raise DatasetConfigError(
                f"JDBCDataset '{table}': bulk_load_path is set but bulk_load is false; set "
                "bulk_load: true, or remove bulk_load_path."
            )
        self._bulk_load = bulk_load
        self._bulk_load_path = bulk_load_path
        self._use_merge = self._checked_upsert_statement(upsert_statement)
        self._scd2 = parse_scd2(scd2, self._write_mode, f"JDBCDataset '{table or url}'")
        self._cursor = Cursor.parse(incremental, self._table_label() if self._table else url)
        self._target_checked = False  # within a stream: the target exists with its key
        self._small = SmallBatches(_whole_rows(small_batch_rows, f"JDBCDataset '{table or url}'"))
        self._casts: dict[str, str] | None = None  # within a stream: the target's column casts
        self._rows_affected: int | None = None  # by the last commit from a staging table

    def _checked_upsert_statement(self, statement: str) -> bool:
        """Whether upserts commit with ``MERGE``; refuses a setting that cannot apply."""
        label = self._table_label() if self._table else self._url
        if statement not in UPSERT_STATEMENTS:
            raise DatasetConfigError(
                f"JDBCDataset '{label}': unknown upsert_statement '{statement}'; use "
                f"{' or '.join(UPSERT_STATEMENTS)}."
            )
        if statement == "on_conflict":
            return False
        if not self._dialect.supports_merge:
            raise DatasetConfigError(
                f"JDBCDataset '{label}': upsert_statement: merge is for PostgreSQL; "
                f"{self._dialect.name} upserts with ON DUPLICATE KEY UPDATE. Remove the setting."
            )
        if self._write_mode != "upsert":
            raise DatasetConfigError(
                f"JDBCDataset '{label}': upsert_statement: merge is set but write_mode is "
                f"'{self._write_mode}'; set write_mode: upsert, or remove upsert_statement."
            )
        return True

    # ------------------------------------------------------------------ read
    def saved_shape(self, data: DataFrame) -> DataFrame:
        """``data``'s columns, and the version columns of an SCD2 table."""
        return data.limit(0) if self._scd2 is None else versioned_shape(data, self._scd2)

    def required_columns(self) -> list[str]:
        """The keys, the audit columns and ``dedup_order_by`` a save uses."""
        extra = [*self._audit_columns, *([self._dedup_order_by] if self._dedup_order_by else [])]
        if self._scd2 is not None and self._scd2.effective_from:
            extra.append(self._scd2.effective_from)
        return [*super().required_columns(), *extra]

    def _read(self) -> DataFrame:
        """Read the table or query; filters on the result are pushed down to the database."""
        source = (
            {"dbtable": self._dialect.table(self._table)}
            if self._table
            else {"query": str(self._query)}
        )
        options = {
            **self._connection_properties(),
            **source,
            **{k: str(v) for k, v in self._load_args.items()},
        }
        if self._cursor is not None:
            options.setdefault("pushDownAggregate", "true")  # the cursor's MAX, in the database
        with self._translated_errors("read"):
            self._check_connection()
            data = self._spark().read.format("jdbc").options(**options).load()
            if self._cursor is not None and self._state is not None:
                data = self._since_mark(data, self._cursor, self._state)
        return json_to_nested(data, self._contract())

    @property
    def incremental(self) -> bool:
        """Whether a load reads only the rows past the committed cursor mark."""
        return self._cursor is not None

    def _since_mark(self, data: DataFrame, cursor: Cursor, state: StateSlot) -> DataFrame:
        """The rows past the committed mark, up to the cursor's maximum now (held to commit)."""
        committed = state.committed()
        bounded, position, said = cursor.bounded(data, committed, self._table_label())
        state.hold(position)
        # Nothing past the mark: Spark plans no scan for the empty range, so say it read none
        empty = position == committed and not cursor.lag
        self.last_load = LoadMetrics(known={"records": 0}) if empty else None
        logger.info(
            "JDBCDataset '%s': reading %s",
            self._table_label(),
            said,
            extra={"event": "incremental_range", "cursor": cursor.column, "end": position},
        )
        return bounded

    # ------------------------------------------------------------------ write
    def save(self, data: DataFrame) -> None:
        """Write ``data`` (see :meth:`EtlDataset.save`); a new streaming query checks the
        target again in its first micro-batch."""
        self._target_checked = False
        self._casts = None
        self._small.last_rows = None
        super().save(data)

    def _save_micro_batch(self, batch: DataFrame, batch_id: int) -> None:
        if self._writes_small_batches() and self._small.worth_trying() and self._save_small(batch):
            return
        slots = self._spark().sparkContext.defaultParallelism
        self._save_batch(batch, connections=slots, micro_batch=True)
        # the rows the commit changed (all of an append's; an upsert's unchanged rows not):
        # whether the next batch is worth collecting
        self._small.record(self._rows_affected)

    def _small_batch_refused(self, data: DataFrame, exc: Exception) -> Exception:
        """The error to raise for a one-statement write the database refused (rolled back):
        ``ON CONFLICT DO UPDATE`` refuses a key twice itself; the keys are named from the
        batch."""
        if self._write_mode == "upsert" and met_a_key_twice(exc):
            return self._repeated_keys(data, java_error_chain(exc)[0])
        return self._rejected(exc)

    def _writes_small_batches(self) -> bool:
        """Whether small micro-batches skip the staging table (append and upsert into
        PostgreSQL, unless ``small_batch_rows`` is 0)."""
        return (
            self._small.max_rows > 0
            and self._dialect.writes_json_rows
            and self._write_mode in ("append", "upsert")
        )

    def _save_small(self, batch: DataFrame) -> bool:
        """Write a micro-batch of at most ``small_batch_rows`` rows in one statement from the
        driver (``spark_etl.datasets._jdbc_direct``); ``False`` if it is larger (nothing was
        written)."""
        target = self._require_table()
        columns = [check_identifier(c, "column") for c in batch.columns]
        self._check_keys_present(columns)
        shape = batch.schema
        data = nested_to_json(batch)
        if self._keyed and self._dedup_order_by:
            data = keep_latest(data, self._key_columns, self._dedup_order_by, columns)
        time_zone = jvm_time_zone(self._spark())
        with self._translated_errors("write"):
            collected = collect_small(
                data,
                self._small.max_rows,
                lambda column, data_type: self._dialect.value_text(column, data_type, time_zone),
            )
        self._small.record(collected.rows)
        if collected.document is None:
            return False
        held = HeldConnection(self._open_connection)
        try:
            with self._translated_errors("write"):
                conn = held.get()
                self._check_target(conn, target, shape)
                self._target_checked = True
                if self._casts is None:
                    self._casts = self._dialect.column_casts(conn, target)
                casts = self._casts
            before_commit()  # the sources' work after the batch, as on the staging path
            if collected.rows:
                source = self._dialect.json_rows(columns, casts)
                statement = Bound(self._insert(target, source, columns), (collected.document,))
                with self._translated_errors("write"):
                    counts = commit_staged(
                        held.get(),
                        [statement],
                        on_conflict=None,
                        refused=lambda exc: self._small_batch_refused(data, exc),
                        table=self._table_label(),
                    )
                logger.info(
                    "Wrote to %s (mode %s) from the micro-batch in one statement: %s rows affected",
                    self._table_label(),
                    self._write_mode,
                    counts[-1],
                )
        except Exception:
            self._target_checked = False
            self._casts = None
            raise
        finally:
            held.close()
        return True

    def _save_batch(
        self, data: DataFrame, connections: int | None = None, micro_batch: bool = False
    ) -> None:
        """Fill a staging table, then commit it into the target in one transaction.

        ``connections`` caps the staging write's connections when ``numPartitions`` is unset
        (Spark's JDBC writer coalesces to it). The driver's statements (checks, staging DDL,
        the commit, the drop) share one connection; the micro-batches of a stream check the
        target once (again after a failed batch).
        """
        target = self._require_table()
        columns = [check_identifier(c, "column") for c in data.columns]
        self._check_keys_present(columns)
        shape = data.schema  # a created table types maps, arrays and structs as JSON
        data = nested_to_json(data)
        if self._keyed and self._dedup_order_by:
            data = keep_latest(data, self._key_columns, self._dedup_order_by, columns)
        staging = target.with_name(_staging_name(target.name))
        held = HeldConnection(self._open_connection)
        try:
            with self._translated_errors("write"):
                self._prepare(held.get(), target, staging, shape)
            self._target_checked = micro_batch
            try:
                with self._translated_errors("write"):
                    self._stage(data, staging, connections, held)
                # a stream's sources finish the micro-batch (their errors are their own): a
                # failure leaves the target untouched
                before_commit()
                with self._translated_errors("write"):
                    self._commit_from_staging(held.get(), target, staging, columns)
            finally:
                self._drop_quietly(held, staging)
        except Exception:
            self._target_checked = False
            raise
        finally:
            held.close()

    def _stage(
        self, data: DataFrame, staging: TableName, connections: int | None, held: HeldConnection
    ) -> None:
        try:
            if self._bulk_load:
                self._bulk_load_staging(data, staging)
            else:
                self._load_staging(data, staging, connections)
            if self._scd2 is not None:
                for sql in self._dialect.key_loaded_staging(
                    staging, data.schema, self._key_columns
                ):
                    execute(held.get(), sql)
        except Exception as exc:
            if self._keyed and is_duplicate_key(exc):
                raise self._repeated_keys(data, duplicate_entry(exc)) from exc
            raise

    def _commits_atomically(self) -> bool:
        """The target changes in one transaction, from the staging table, after the load."""
        return True

    def _check_target(self, conn: Any, target: TableName, shape: StructType) -> None:
        """Create a missing target, and check its key (once per streaming query)."""
        if self._target_checked:
            return
        if not table_exists(conn, self._dialect, target):
            if not self._create_table:
                raise DatasetConfigError(
                    f"Table '{self._table_label()}' does not exist and create_table is "
                    "false: create it, or set create_table: true."
                )
            logger.info("Creating table %s from the DataFrame's schema", self._table_label())
            execute(conn, self._create_target(target, shape))
        if self._write_mode == "upsert":
            self._check_unique_key(conn, target)
        if self._use_merge:
            self._check_merge_supported(conn)

    def _prepare(self, conn: Any, target: TableName, staging: TableName, shape: StructType) -> None:
        self._check_target(conn, target, shape)
        replace = self._write_mode == "overwrite" and self._overwrite_strategy == "replace"
        # an SCD2 batch is staged in its own shape (the target has the version columns), keyed
        # (while loading, or right after it: _stage): a key twice is refused
        if self._scd2 is not None:
            ddl = self._dialect.create_keyed_staging(staging, shape, self._key_columns)
        elif replace:
            ddl = self._dialect.create_table(staging, shape, self._key_columns)
        else:
            ddl = self._dialect.create_staging(staging, target)
        execute(conn, ddl)
        if self._write_mode == "upsert":
            for sql in self._dialect.key_staging(staging, self._key_columns):
                execute(conn, sql)

    def _load_staging(
        self, data: DataFrame, staging: TableName, connections: int | None = None
    ) -> None:
        properties = {
            **self._connection_properties(),
            "stringtype": "unspecified",
            **({"numPartitions": str(connections)} if connections else {}),
            **{k: str(v) for k, v in self._save_args.items()},
        }
        data = self._dialect.insert_frame(data, jvm_time_zone(self._spark()))
        data.write.format("jdbc").options(**properties).option(
            "dbtable", self._dialect.table(staging)
        ).mode("append").save()

    def _bulk_load_staging(self, data: DataFrame, staging: TableName) -> None:
        """Spark writes the batch as text files; the driver streams them into the staging table
        over a few connections at once (see ``_bulk``); the files are deleted afterwards."""
        spark = self._spark()
        base = self._bulk_load_path or _bulk.default_folder(spark, self._table_label())
        load = _bulk.Load.of(self._dialect, staging, data)
        try:
            with _bulk.written_text(
                spark, data, self._dialect, f"{base.rstrip('/')}/{staging.name}"
            ) as files:
                rows = _bulk.load_files(
                    jvm_of(spark), self._connection, load, files, self._bulk_connections()
                )
        except _bulk.BulkLoadRejected as exc:
            if exc.duplicate_key and self._keyed:
                raise self._repeated_keys(data, exc.messages[0]) from exc
            raise WriteRejectedError(
                f"{self._dialect.name} refused rows of the bulk load into '{self._table_label()}'"
                f": {exc}. Nothing was written; fix the values (or the column types)."
            ) from exc
        logger.info(
            "Bulk-loaded %s rows from %d file(s) into the staging table of %s",
            rows,
            len(files.parts),
            self._table_label(),
        )

    def _bulk_connections(self) -> int:
        """How many connections load the files at once: ``save_args.numPartitions``, else one
        per task slot (what Spark's JDBC writer would open)."""
        wanted = self._save_args.get("numPartitions")
        if wanted is not None:
            return int(wanted)
        return int(self._spark().sparkContext.defaultParallelism)

    def _commit_from_staging(
        self, conn: Any, target: TableName, staging: TableName, columns: list[str]
    ) -> None:
        """Move the staged batch into the target in one transaction (see :func:`commit_staged`:
        an upsert's ``MERGE`` that the database refuses is done again with ``ON CONFLICT``)."""
        counts = commit_staged(
            conn,
            self._statements(target, staging, columns),
            on_conflict=(
                self._statements(target, staging, columns, merge=False) if self._use_merge else None
            ),
            refused=lambda exc: self._commit_refused(conn, staging, exc),
            table=self._table_label(),
        )
        self._rows_affected = counts[-1] if counts else 0
        logger.info(
            "Wrote to %s (mode %s): %s rows affected",
            self._table_label(),
            self._write_mode,
            self._rows_affected,
        )

    def _commit_refused(self, conn: Any, staging: TableName, exc: Exception) -> Exception:
        """The error to raise for a commit the database refused (rolled back)."""
        if self._write_mode == "upsert" and met_a_key_twice(exc):
            return repeated_in_staging(
                conn,
                self._dialect,
                staging,
                self._key_columns,
                table=self._table_label(),
                database_says=java_error_chain(exc)[0],
            )
        return self._rejected(exc)

    def _check_merge_supported(self, conn: Any) -> None:
        if server_major_version(conn) < _MERGE_SINCE:
            raise DatasetConfigError(
                f"upsert_statement: merge of '{self._table_label()}' needs PostgreSQL "
                f"{_MERGE_SINCE} or later; the server runs {server_version(conn)}. "
                "Remove the setting (INSERT ... ON CONFLICT is the default)."
            )

    def _statements(
        self, target: TableName, staging: TableName, columns: list[str], merge: bool | None = None
    ) -> list[str]:
        dialect = self._dialect
        source = dialect.table(staging)
        if self._scd2 is not None:
            tracked = self._scd2.tracked(columns, self._key_columns)
            versions = version_columns(self._scd2, write_time())
            return dialect.scd2_statements(
                target,
                staging,
                columns=columns,
                keys=self._key_columns,
                tracked=tracked,
                version=versions,
            )
        if self._write_mode == "upsert" and (self._use_merge if merge is None else merge):
            return [
                dialect.upsert_merge(
                    target, staging, columns, self._key_columns, self._audit_columns
                )
            ]
        if self._write_mode in ("upsert", "append"):
            return [self._insert(target, source, columns)]
        if self._overwrite_strategy == "replace":
            return dialect.replace_table(target, staging, target.with_name(_staging_name("old")))
        return [dialect.delete_all(target), dialect.insert_select(target, source, columns)]

    def _insert(self, target: TableName, source: str, columns: list[str]) -> str:
        """The append's or the upsert's ``INSERT`` of the rows of ``source`` (a relation)."""
        if self._write_mode == "upsert":
            return self._dialect.upsert_on_conflict(
                target, source, columns, self._key_columns, self._audit_columns
            )
        return self._dialect.insert_select(target, source, columns)

    @property
    def _keyed(self) -> bool:
        """Whether a batch holds each key at most once (upsert, scd2)."""
        return self._write_mode in ("upsert", "scd2")

    def _create_target(self, target: TableName, shape: StructType) -> str:
        """The DDL of a missing target: the batch's shape, keyed; for SCD2 with the version
        columns, keyed on the keys and ``valid_from``."""
        if self._scd2 is None:
            return self._dialect.create_table(target, shape, self._key_columns)
        return self._dialect.create_table(
            target,
            with_version_columns(shape, self._scd2),
            [*self._key_columns, self._scd2.valid_from],
        )

    def _repeated_keys(self, data: DataFrame, database_says: str) -> WriteRejectedError:
        """The load into the staging table refused a key twice: the error naming the keys."""
        return repeated_in_batch(
            data, self._key_columns, table=self._table_label(), database_says=database_says
        )

    def _check_keys_present(self, columns: list[str]) -> None:
        for name in [*self._key_columns, *self._audit_columns]:
            if name not in columns:
                raise DatasetConfigError(
                    f"Column '{name}' named in the catalog entry of '{self._table_label()}' is not "
                    f"in the data; columns: {', '.join(columns)}."
                )

    def _check_unique_key(self, conn: Any, target: TableName) -> None:
        wanted = {c.lower() for c in self._key_columns}
        if wanted not in unique_column_sets(conn, self._dialect, target):
            raise DatasetConfigError(
                f"Upsert into '{self._table_label()}' needs key_columns {self._key_columns} to be "
                "its primary key or a unique index; add one (ALTER TABLE ... ADD PRIMARY KEY) or "
                "change key_columns."
            )

    # ------------------------------------------------------------------ metadata
    def _exists(self) -> bool:
        if self._table is None:
            return True
        with self._translated_errors("check"), self._connection() as conn:
            return table_exists(conn, self._dialect, self._require_table())

    def _describe(self) -> dict[str, Any]:
        return {
            "url": self._url,
            "table": self._table_label() if self._table else None,
            "query": self._query,
            "user": self._credentials.get("user"),
            "bulk_load": self._bulk_load,
            "upsert_statement": "merge" if self._use_merge else "on_conflict",
            **super()._describe(),
        }

    # ------------------------------------------------------------------ plumbing
    def _connection_properties(self) -> dict[str, str]:
        return {
            **self._dialect.connection_defaults,
            "driver": self._dialect.driver,
            "url": self._url,
            **self._credentials,
        }

    @contextmanager
    def _connection(self, extra: dict[str, str] | None = None) -> Iterator[Any]:
        """A JDBC connection opened on the driver's JVM with the same driver Spark uses, with
        ``extra`` connection properties."""
        conn = self._open_connection(extra)
        try:
            yield conn
        finally:
            conn.close()

    def _open_connection(self, extra: dict[str, str] | None = None) -> Any:
        return open_connection(
            self._spark(), self._dialect, self._url, {**self._credentials, **(extra or {})}
        )

    def _check_connection(self) -> None:
        """Connect once on the driver, so a down server, a bad password or a missing table is
        named plainly rather than deep in a Spark stack trace."""
        with self._connection() as conn:
            if self._table is not None and not table_exists(conn, self._dialect, self._table):
                raise DatasetConfigError(
                    f"Table '{self._table_label()}' does not exist in {self._dialect.name} at "
                    f"{_host_of(self._url)}: check the catalog's table name, or run the pipeline "
                    "that creates it first."
                )

    def _drop_quietly(self, held: HeldConnection, staging: TableName) -> None:
        try:
            execute(held.get(), self._dialect.drop_table(staging))
        except Exception as exc:
            if not is_jvm_error(exc):
                raise
            logger.warning(
                "Could not drop staging table of %s: %s",
                self._table_label(),
                java_error_chain(exc)[0],
            )

    def _require_table(self) -> TableName:
        if self._table is None:
            raise DatasetConfigError(
                f"JDBCDataset over a query cannot be written to ({self._url}): set 'table'."
            )
        return self._table

    def system(self) -> str:
        """``postgresql://host:port`` of the URL: the server, without database or options."""
        return f"{self._dialect.name}://{_host_of(self._url)}"

    def target_label(self) -> str:
        """The table (``schema.name``), or ``<query>``."""
        return self._table_label()

    def scanned_in(self, scan: PlanNode) -> bool:
        """A JDBC relation over this dataset's table or query."""
        relation = (
            f"JDBCRelation({self._dialect.table(self._table)})"
            if self._table is not None
            else f"JDBCRelation(({self._query}) SPARK_GEN_SUBQ_"
        )
        return scan.name.startswith(f"Scan {relation}")

    def _table_label(self) -> str:
        if self._table is None:
            return "<query>"
        return (
            f"{self._table.schema}.{self._table.name}" if self._table.schema else self._table.name
        )

    def _rejected(self, exc: Exception) -> Exception:
        state = sql_state(exc) or ""
        if state.startswith(_REJECTED_STATES):
            return WriteRejectedError(
                f"{self._dialect.name} rejected the write to '{self._table_label()}' as a whole "
                f"(SQLState {state}): {java_error_chain(exc)[0]}. Nothing was written."
            )
        return exc

    def _translate(self, exc: Exception, action: str) -> Exception | None:
        state = sql_state(exc) or ""
        chain = " | ".join(java_error_chain(exc))
        where = f"{self._dialect.name} at {_host_of(self._url)} (table '{self._table_label()}')"
        if state.startswith("28") or "Access denied" in chain:
            return AuthenticationError(
                f"{where} refused the credentials of user '{self._credentials.get('user')}' to "
                f"{action}: check the user and password in credentials.yml (or the vault)."
            )
        if state.startswith("08") or any(name in chain for name in _UNREACHABLE):
            return SourceUnavailableError(
                f"{where} is not reachable to {action}: is the server up and the URL right? "
                "(locally: `make services`)"
            )
        if state.startswith(_REJECTED_STATES):
            return self._rejected(exc)
        return None


def _checked_table(text: str) -> TableName:
    table = TableName.parse(text)
    check_identifier(table.name, "table name")
    if table.schema is not None:
        check_identifier(table.schema, "schema name")
    return table


def _whole_rows(value: int | str, owner: str) -> int:
    """``small_batch_rows`` as a number: an int, or its digits (what ``${oc.env:...}`` in the
    catalog hands over)."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise DatasetConfigError(
        f"{owner}: small_batch_rows must be a whole number of rows (0 or more), not {value!r}."
    )


def _staging_name(table: str) -> str:
    return f"{table[:40]}__stg_{uuid.uuid4().hex[:12]}"


def _host_of(url: str) -> str:
    """``host:port`` of a JDBC URL (a ``user:password@`` in it left out)."""
    rest = url.split("//", 1)[-1]
    return rest.split("/", 1)[0].split("?", 1)[0].split(";", 1)[0].rsplit("@", 1)[-1]
