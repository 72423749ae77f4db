"""SQL dialects of the JDBC strategy: the statements each database needs for a safe write.

Every identifier reaching these functions has passed ``check_identifier``; they quote it anyway.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    BooleanType,
    ByteType,
    DataType,
    DateType,
    DecimalType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    MapType,
    ShortType,
    StringType,
    StructType,
    TimestampNTZType,
    TimestampType,
)

from spark_etl.datasets.exceptions import DatasetConfigError

if TYPE_CHECKING:
    from spark_etl.datasets._scd2 import VersionColumns

#: How a dialect fills a staging table in bulk (``_bulk`` holds one loader for each).
BulkLoader = Literal["copy", "load_data"]


@dataclass(frozen=True)
class TableName:
    """A table, optionally qualified by a schema (PostgreSQL) or database (MySQL)."""

    name: str
    schema: str | None = None

    @classmethod
    def parse(cls, text: str) -> TableName:
        """``table`` or ``schema.table``; the parts are checked by the caller."""
        parts = text.split(".")
        if len(parts) > 2:
            raise DatasetConfigError(f"Table {text!r}: use 'table' or 'schema.table'.")
        return cls(parts[-1], parts[0] if len(parts) == 2 else None)

    def with_name(self, name: str) -> TableName:
        """The same schema, another table name."""
        return TableName(name, self.schema)


@dataclass(frozen=True)
class Dialect:
    """What differs between databases. Subclasses hold the SQL; the dataset holds the flow."""

    name: ClassVar[str] = "generic"
    driver: ClassVar[str] = ""
    quote_char: ClassVar[str] = '"'
    #: Whether the database has ``MERGE`` (:meth:`upsert_merge`), for ``upsert_statement: merge``.
    supports_merge: ClassVar[bool] = False
    #: The bulk path that fills a staging table (``bulk_load: true``): ``COPY ... FROM STDIN``
    #: over one connection, or ``LOAD DATA LOCAL INFILE`` of files on the driver.
    bulk_loader: ClassVar[BulkLoader]
    connection_defaults: dict[str, str] = field(default_factory=dict)

    def quote(self, identifier: str) -> str:
        """Quote one checked identifier."""
        return f"{self.quote_char}{identifier}{self.quote_char}"

    def table(self, table: TableName) -> str:
        """The quoted, possibly qualified, table name."""
        if table.schema:
            return f"{self.quote(table.schema)}.{self.quote(table.name)}"
        return self.quote(table.name)

    def column_list(self, columns: list[str], prefix: str = "") -> str:
        """``"a", "b"`` (or ``s."a", s."b"`` with a prefix)."""
        return ", ".join(prefix + self.quote(c) for c in columns)

    def column_type(self, data_type: DataType, is_key: bool) -> str:
        """The database type a Spark type is stored as when this framework creates a table."""
        raise NotImplementedError

    def create_table(self, table: TableName, schema: StructType, keys: list[str]) -> str:
        """DDL for a table shaped like ``schema``, with a primary key on ``keys`` if any."""
        cols = self.column_definitions(schema, keys)
        if keys:
            cols.append(f"PRIMARY KEY ({self.column_list(keys)})")
        return f"CREATE TABLE {self.table(table)} ({', '.join(cols)})"

    def column_definitions(self, schema: StructType, keys: list[str]) -> list[str]:
        """``"name" TYPE [NOT NULL]`` of each field of ``schema``; ``keys`` are never null."""
        return [
            f"{self.quote(f.name)} {self.column_type(f.dataType, f.name in keys)}"
            + ("" if f.nullable and f.name not in keys else " NOT NULL")
            for f in schema.fields
        ]

    def create_keyed_staging(self, staging: TableName, schema: StructType, keys: list[str]) -> str:
        """The staging table of a batch that must hold each key once (SCD2), shaped like
        ``schema``: keyed here, so that loading it refuses a key twice."""
        return self.create_table(staging, schema, keys)

    def key_loaded_staging(
        self, staging: TableName, schema: StructType, keys: list[str]
    ) -> list[str]:
        """What makes a :meth:`create_keyed_staging` table refuse a key twice once the batch is
        loaded (a unique-key violation names the key): nothing where it is keyed already."""
        return []

    #: Whether the upsert statement itself fails when the batch holds a key twice (PostgreSQL's
    #: ``ON CONFLICT DO UPDATE`` does; MySQL's ``ON DUPLICATE KEY UPDATE`` would apply both rows).
    upsert_rejects_repeated_keys: ClassVar[bool] = False

    def metadata_name(self, table: TableName) -> str:
        """``table``'s name as the JDBC metadata calls (indexes) look it up."""
        raise NotImplementedError

    def metadata_scope(self, conn: Any, table: TableName) -> tuple[str | None, str | None]:
        """The catalog and the schema that JDBC metadata calls on ``conn`` look ``table`` up in."""
        raise NotImplementedError

    def create_staging(self, staging: TableName, target: TableName) -> str:
        """An empty copy of the target's columns, without its keys, to load a batch into."""
        raise NotImplementedError

    def key_staging(self, staging: TableName, keys: list[str]) -> list[str]:
        """Statements that make an empty upsert staging table refuse a key twice, where the upsert
        would not (checked while loading: no extra pass over the batch)."""
        if self.upsert_rejects_repeated_keys:
            return []
        return [f"ALTER TABLE {self.table(staging)} ADD PRIMARY KEY ({self.column_list(keys)})"]

    def drop_table(self, table: TableName) -> str:
        """``DROP TABLE IF EXISTS``."""
        return f"DROP TABLE IF EXISTS {self.table(table)}"

    def insert_select(self, target: TableName, source: str, columns: list[str]) -> str:
        """Copy every row of ``source`` (the staging table, or a batch's rows read from JSON:
        :meth:`json_rows`) into the target."""
        cols = self.column_list(columns)
        return f"INSERT INTO {self.table(target)} ({cols}) SELECT {cols} FROM {source} AS s"

    def delete_all(self, target: TableName) -> str:
        """Empty the target inside the current transaction, keeping DDL, indexes and grants."""
        return f"DELETE FROM {self.table(target)}"

    def replace_table(self, target: TableName, staging: TableName, old: TableName) -> list[str]:
        """Swap the staged table in for the target (``overwrite_strategy: replace``)."""
        raise NotImplementedError

    def upsert_on_conflict(
        self,
        target: TableName,
        source: str,
        columns: list[str],
        keys: list[str],
        audit_columns: list[str],
    ) -> str:
        """One statement that inserts the rows of ``source`` (a relation, as for
        :meth:`insert_select`) with new keys and updates changed rows, settling a key the target
        holds with the database's own clause (``ON CONFLICT``, ``ON DUPLICATE KEY UPDATE``)."""
        raise NotImplementedError

    def json_rows(self, columns: list[str], casts: dict[str, str]) -> str:
        """A relation of the rows of one JSON array, the statement's only parameter: objects
        whose field ``c<i>`` holds the text (:meth:`value_text`) of ``columns[i]``, cast to
        ``casts[column]`` where given (see ``spark_etl.datasets._jdbc_direct``)."""
        raise NotImplementedError

    #: Whether a small micro-batch is written from :meth:`json_rows` in one statement
    #: (``spark_etl.datasets._jdbc_direct``) rather than through a staging table.
    writes_json_rows: ClassVar[bool] = False

    def column_casts(self, conn: Any, table: TableName) -> dict[str, str]:
        """The SQL type each column of ``table`` is cast to from the text of :meth:`json_rows`
        (a column left out needs no cast)."""
        raise NotImplementedError

    def upsert_merge(
        self,
        target: TableName,
        staging: TableName,
        columns: list[str],
        keys: list[str],
        audit_columns: list[str],
    ) -> str:
        """The upsert as a standard ``MERGE``, where the database has one."""
        raise NotImplementedError(f"{self.name} has no MERGE statement")

    def timestamp_literal(self, text: str) -> str:
        """A timestamp constant (``text``: ``YYYY-MM-DD HH:MM:SS.ffffff``, made by spark-etl)."""
        return f"TIMESTAMP '{text}'"

    def scd2_statements(
        self,
        target: TableName,
        staging: TableName,
        *,
        columns: list[str],
        keys: list[str],
        tracked: list[str],
        version: VersionColumns,
    ) -> list[str]:
        """The statements of an SCD2 write, for one transaction: close the current versions
        whose tracked columns changed, open a version for every staged key without a current
        one (new keys, and those just closed), and with ``version.close_missing`` close the
        current versions of the keys the batch does not hold."""
        q = self.quote
        start = self.scd2_start(version)
        matched = self.keys_match(keys)
        return [
            self.scd2_close_changed(
                target, staging, matched=matched, tracked=tracked, version=version, start=start
            ),
            self.scd2_open(
                target,
                staging,
                columns,
                version,
                where=f"NOT EXISTS (SELECT 1 FROM {self.table(target)} AS t WHERE {matched} "
                f"AND t.{q(version.is_current)})",
            ),
            *self.scd2_close_missing(target, staging, keys, version),
        ]

    def scd2_start(self, version: VersionColumns) -> str:
        """Where a version opened from the staged row ``s`` starts (and the one it replaces
        ends): its ``effective_from``, else the write's time."""
        if version.effective_from:
            return f"s.{self.quote(version.effective_from)}"
        return self.timestamp_literal(version.now)

    def keys_match(self, keys: list[str]) -> str:
        """The join of the target ``t`` and the staged rows ``s`` on ``keys``."""
        return " AND ".join(f"t.{self.quote(k)} = s.{self.quote(k)}" for k in keys)

    def scd2_open(
        self,
        target: TableName,
        source: TableName,
        columns: list[str],
        version: VersionColumns,
        where: str | None = None,
    ) -> str:
        """Open a current version for each row ``s`` of ``source`` (that meets ``where``)."""
        q = self.quote
        cols = self.column_list(columns)
        return (
            f"INSERT INTO {self.table(target)} ({cols}, {q(version.valid_from)}, "
            f"{q(version.valid_to)}, {q(version.is_current)}) "
            f"SELECT {self.column_list(columns, 's.')}, {self.scd2_start(version)}, NULL, TRUE "
            f"FROM {self.table(source)} AS s" + (f" WHERE {where}" if where else "")
        )

    def scd2_close_missing(
        self, target: TableName, staging: TableName, keys: list[str], version: VersionColumns
    ) -> list[str]:
        """With ``version.close_missing``: close the current versions of the keys the staged
        batch does not hold."""
        if not version.close_missing:
            return []
        q = self.quote
        close = (
            f"UPDATE {self.table(target)} AS t SET {q(version.valid_to)} = "
            f"{self.timestamp_literal(version.now)}, {q(version.is_current)} = FALSE "
            f"WHERE t.{q(version.is_current)} AND NOT EXISTS (SELECT 1 FROM "
            f"{self.table(staging)} AS s WHERE {self.keys_match(keys)})"
        )
        return [close]

    def scd2_close_changed(
        self,
        target: TableName,
        staging: TableName,
        *,
        matched: str,
        tracked: list[str],
        version: VersionColumns,
        start: str,
    ) -> str:
        """Close the current versions the staged batch changes (``matched``: the join of the
        target ``t`` and the staging table ``s`` on the keys)."""
        raise NotImplementedError

    def bulk_frame(self, data: DataFrame, time_zone: str) -> DataFrame:
        r"""The batch as lines of the bulk loaders' text format, built with Spark's built-in
        expressions: fields separated by tabs, NULL as ``\N``, and in text a backslash, tab,
        line feed or carriage return escaped with a backslash (PostgreSQL's ``COPY`` text
        format, and MySQL's ``LOAD DATA`` defaults). Timestamps are the wall-clock time in
        ``time_zone`` (the JVM's default), as the JDBC drivers send them on the insert path."""
        fields = [
            F.coalesce(self.bulk_text(F.col(f.name), f.dataType, time_zone), F.lit("\\N"))
            for f in data.schema.fields
        ]
        return data.select(F.concat_ws("\t", *fields).alias("value"))

    def bulk_text(self, column: Column, data_type: DataType, time_zone: str) -> Column:
        """One value in the bulk text format: its :meth:`value_text`, escaped."""
        text = self.value_text(column, data_type, time_zone)
        return _escaped(text) if isinstance(data_type, StringType | BinaryType) else text

    def value_text(self, column: Column, data_type: DataType, time_zone: str) -> Column:
        """One value as the text the database reads back as it (NULL stays NULL): timestamps
        as their wall-clock time in ``time_zone``."""
        if isinstance(data_type, StringType):
            return column
        if isinstance(data_type, TimestampType):
            return _wall_clock_text(column, time_zone)
        return column.cast("string")

    def insert_frame(self, data: DataFrame, time_zone: str) -> DataFrame:
        """The batch as Spark's JDBC writer sends it on the insert path: unchanged unless the
        driver would lose something on the way."""
        return data

    def bulk_statement(
        self, staging: TableName, columns: list[str], binary: list[str], file: str
    ) -> str:
        """The statement that loads one file of :meth:`bulk_frame` (``file``: a path on the
        driver, where the loader reads files itself) into the staging table."""
        raise NotImplementedError

    def duplicate_keys(self, staging: TableName, keys: list[str], limit: int) -> str:
        """The first ``limit`` keys that occur more than once in the staged batch."""
        cols = self.column_list(keys)
        return (
            f"SELECT {cols}, COUNT(*) AS n FROM {self.table(staging)} GROUP BY {cols} "
            f"HAVING COUNT(*) > 1 ORDER BY {cols} LIMIT {int(limit)}"
        )


@dataclass(frozen=True)
class PostgresDialect(Dialect):
    """PostgreSQL: ``INSERT ... ON CONFLICT DO UPDATE``, transactional DDL."""

    name: ClassVar[str] = "postgresql"
    driver: ClassVar[str] = "org.postgresql.Driver"
    supports_merge: ClassVar[bool] = True
    bulk_loader: ClassVar[BulkLoader] = "copy"
    upsert_rejects_repeated_keys: ClassVar[bool] = True
    writes_json_rows: ClassVar[bool] = True
    connection_defaults: dict[str, str] = field(
        default_factory=lambda: {"reWriteBatchedInserts": "true"}
    )

    def value_text(self, column: Column, data_type: DataType, time_zone: str) -> Column:
        r"""``bytea`` as hex (``\x0a1b``)."""
        if isinstance(data_type, BinaryType):
            return F.concat(F.lit("\\x"), F.hex(column))
        return super().value_text(column, data_type, time_zone)

    def bulk_statement(
        self, staging: TableName, columns: list[str], binary: list[str], file: str
    ) -> str:
        """``COPY ... FROM STDIN`` in the text format: the driver streams the file."""
        return (
            f"COPY {self.table(staging)} ({self.column_list(columns)}) FROM STDIN "
            "WITH (FORMAT text, ENCODING 'UTF8')"
        )

    def metadata_name(self, table: TableName) -> str:
        """In lower case: the name PostgreSQL gives an unquoted identifier."""
        return table.name.lower()

    def metadata_scope(self, conn: Any, table: TableName) -> tuple[str | None, str | None]:
        """No catalog; the table's schema, else ``public``."""
        return None, (table.schema or "public")

    def column_type(self, data_type: DataType, is_key: bool) -> str:
        """PostgreSQL types; nested values are stored as ``jsonb``."""
        return _type_name(data_type, _PG_TYPES, "JSONB", "NUMERIC({p},{s})")

    def create_staging(self, staging: TableName, target: TableName) -> str:
        """An unlogged copy of the target's columns and defaults (no keys, no indexes)."""
        return (
            f"CREATE UNLOGGED TABLE {self.table(staging)} "
            f"(LIKE {self.table(target)} INCLUDING DEFAULTS)"
        )

    def replace_table(self, target: TableName, staging: TableName, old: TableName) -> list[str]:
        """Drop and rename in one transaction: PostgreSQL's DDL is transactional."""
        return [
            self.drop_table(target),
            f"ALTER TABLE {self.table(staging)} RENAME TO {self.quote(target.name)}",
        ]

    def json_rows(self, columns: list[str], casts: dict[str, str]) -> str:
        """``json_array_elements`` of the parameter, each field read as text (``->>``)."""
        fields = ", ".join(
            (f"CAST(e->>'c{i}' AS {casts[c]})" if c in casts else f"e->>'c{i}'")
            + f" AS {self.quote(c)}"
            for i, c in enumerate(columns)
        )
        return f"(SELECT {fields} FROM json_array_elements(CAST(? AS json)) AS e)"

    def column_casts(self, conn: Any, table: TableName) -> dict[str, str]:
        """The type each column of ``table`` is cast to from text, by column name: the
        column's own type, except for string types (``varchar(n)``, ``char(n)``: a cast would
        cut a value the insert refuses as too long)."""
        statement = conn.prepareStatement(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), t.typcategory "
            "FROM pg_attribute AS a JOIN pg_type AS t ON t.oid = a.atttypid "
            "WHERE a.attrelid = CAST(? AS regclass) AND a.attnum > 0 AND NOT a.attisdropped"
        )
        try:
            statement.setString(1, self.table(table))
            rs = statement.executeQuery()
            casts: dict[str, str] = {}
            while rs.next():
                if rs.getString(3) != "S":
                    casts[rs.getString(1)] = rs.getString(2)
            return casts
        finally:
            statement.close()

    def upsert_on_conflict(
        self,
        target: TableName,
        source: str,
        columns: list[str],
        keys: list[str],
        audit_columns: list[str],
    ) -> str:
        """``INSERT ... ON CONFLICT DO UPDATE``: rows whose non-audit values are unchanged are
        left alone, audit columns included."""
        cols = self.column_list(columns)
        updates, compared = _updated_columns(columns, keys, audit_columns)
        sql = (
            f"INSERT INTO {self.table(target)} AS t ({cols}) SELECT {cols} "
            f"FROM {source} AS s ON CONFLICT ({self.column_list(keys)}) "
        )
        if not updates:
            return sql + "DO NOTHING"
        assignments = ", ".join(f"{self.quote(c)} = EXCLUDED.{self.quote(c)}" for c in updates)
        return (
            sql + f"DO UPDATE SET {assignments} WHERE ({self.column_list(compared, 't.')}) "
            f"IS DISTINCT FROM ({self.column_list(compared, 'EXCLUDED.')})"
        )

    def scd2_statements(
        self,
        target: TableName,
        staging: TableName,
        *,
        columns: list[str],
        keys: list[str],
        tracked: list[str],
        version: VersionColumns,
    ) -> list[str]:
        """The same write in one pass over the batch: its new and changed rows (those without
        an identical current version) are first kept in a temporary table, dropped at commit;
        closing the versions they replace and opening theirs then read only those rows, where
        each of the two statements would join the whole batch with the table."""
        q = self.quote
        matched = self.keys_match(keys)
        current = f"t.{q(version.is_current)}"
        changed = TableName(f"{staging.name}_changed")  # temporary tables take no schema
        keep_changed = (
            f"CREATE TEMPORARY TABLE {self.table(changed)} ON COMMIT DROP AS SELECT s.* FROM "
            f"{self.table(staging)} AS s WHERE NOT EXISTS (SELECT 1 FROM {self.table(target)} "
            f"AS t WHERE {matched} AND {current} AND ({self.column_list(tracked, 't.')}) IS NOT "
            f"DISTINCT FROM ({self.column_list(tracked, 's.')}))"
        )
        close_replaced = (
            f"UPDATE {self.table(target)} AS t SET {q(version.valid_to)} = "
            f"{self.scd2_start(version)}, {q(version.is_current)} = FALSE FROM "
            f"{self.table(changed)} AS s WHERE {matched} AND {current}"
        )
        return [
            keep_changed,
            close_replaced,
            self.scd2_open(target, changed, columns, version),
            *self.scd2_close_missing(target, staging, keys, version),
        ]

    def create_keyed_staging(self, staging: TableName, schema: StructType, keys: list[str]) -> str:
        """Unlogged and unkeyed while loading: ``COPY`` into a table with a unique index checks
        each row's key in the index (random reads), building the index afterwards sorts them
        once (:meth:`key_loaded_staging`)."""
        return (
            f"CREATE UNLOGGED TABLE {self.table(staging)} "
            f"({', '.join(self.column_definitions(schema, keys))})"
        )

    def key_loaded_staging(
        self, staging: TableName, schema: StructType, keys: list[str]
    ) -> list[str]:
        """A unique index on the keys; text keys compared byte by byte (``COLLATE "C"``: the
        same equality as any deterministic collation's, sorted without the locale)."""
        types = {f.name: f.dataType for f in schema.fields}
        columns = ", ".join(
            self.quote(k) + (' COLLATE "C"' if isinstance(types[k], StringType) else "")
            for k in keys
        )
        return [f"CREATE UNIQUE INDEX ON {self.table(staging)} ({columns})"]

    def upsert_merge(
        self,
        target: TableName,
        staging: TableName,
        columns: list[str],
        keys: list[str],
        audit_columns: list[str],
    ) -> str:
        """The same upsert as ``MERGE`` (PostgreSQL 15 and later): the batch is joined with
        the target (a hash join when it is a large part of it) instead of probing the key's
        index once per row. Unlike ``ON CONFLICT``, a key inserted by another transaction
        meanwhile fails it (SQLState 23505), as does a new key twice in the batch."""
        updates, compared = _updated_columns(columns, keys, audit_columns)
        matched = " AND ".join(f"t.{self.quote(k)} = s.{self.quote(k)}" for k in keys)
        sql = f"MERGE INTO {self.table(target)} AS t USING {self.table(staging)} AS s ON {matched} "
        if updates:
            assignments = ", ".join(f"{self.quote(c)} = s.{self.quote(c)}" for c in updates)
            sql += (
                f"WHEN MATCHED AND ({self.column_list(compared, 't.')}) IS DISTINCT FROM "
                f"({self.column_list(compared, 's.')}) THEN UPDATE SET {assignments} "
            )
        return (
            sql + f"WHEN NOT MATCHED THEN INSERT ({self.column_list(columns)}) "
            f"VALUES ({self.column_list(columns, 's.')})"
        )


@dataclass(frozen=True)
class MySQLDialect(Dialect):
    """MySQL and MariaDB: ``INSERT ... ON DUPLICATE KEY UPDATE``; DDL commits, DML only inside."""

    name: ClassVar[str] = "mysql"
    driver: ClassVar[str] = "com.mysql.cj.jdbc.Driver"
    quote_char: ClassVar[str] = "`"
    bulk_loader: ClassVar[BulkLoader] = "load_data"
    connection_defaults: dict[str, str] = field(
        default_factory=lambda: {"rewriteBatchedStatements": "true"}
    )

    def insert_frame(self, data: DataFrame, time_zone: str) -> DataFrame:
        """Timestamps sent as text with their microseconds (the wall-clock time in
        ``time_zone``, what Connector/J would send): Connector/J drops the fraction of a
        timestamp parameter for a server it takes for MySQL older than 5.6.4, and it takes every
        MariaDB for one (MariaDB announces itself as ``5.5.5-10.x``)."""
        stamps = {
            f.name: (
                _wall_clock_text(F.col(f.name), time_zone)
                if isinstance(f.dataType, TimestampType)
                else F.col(f.name).cast("string")
            )
            for f in data.schema.fields
            if isinstance(f.dataType, TimestampType | TimestampNTZType)
        }
        return data.withColumns(stamps) if stamps else data

    def value_text(self, column: Column, data_type: DataType, time_zone: str) -> Column:
        """Booleans as ``0``/``1`` (``BOOLEAN`` is ``TINYINT``); binary as hex (``UNHEX`` on
        load)."""
        if isinstance(data_type, BooleanType):
            return column.cast("tinyint").cast("string")
        if isinstance(data_type, BinaryType):
            return F.hex(column)
        return super().value_text(column, data_type, time_zone)

    def bulk_statement(
        self, staging: TableName, columns: list[str], binary: list[str], file: str
    ) -> str:
        """``LOAD DATA LOCAL INFILE`` of a file on the driver (its default text format, spelt
        out), hex columns through ``UNHEX``."""
        fields = ", ".join(f"@{c}" if c in binary else self.quote(c) for c in columns)
        unhex = ", ".join(f"{self.quote(c)} = UNHEX(@{c})" for c in binary)
        literal = file.replace("\\", "\\\\").replace("'", "\\'")
        return (
            f"LOAD DATA LOCAL INFILE '{literal}' INTO TABLE {self.table(staging)} "
            "CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\\t' ENCLOSED BY '' ESCAPED BY '\\\\' "
            f"LINES TERMINATED BY '\\n' ({fields})" + (f" SET {unhex}" if unhex else "")
        )

    def metadata_name(self, table: TableName) -> str:
        """As given."""
        return table.name

    def metadata_scope(self, conn: Any, table: TableName) -> tuple[str | None, str | None]:
        """A MySQL database is a JDBC catalog: the table's, else the connection's; no schema."""
        return (table.schema or conn.getCatalog()), None

    def column_type(self, data_type: DataType, is_key: bool) -> str:
        """MySQL types; a key string is ``VARCHAR(255)`` (TEXT cannot be a key)."""
        if is_key and isinstance(data_type, StringType):
            return "VARCHAR(255)"
        return _type_name(data_type, _MYSQL_TYPES, "JSON", "DECIMAL({p},{s})")

    def create_staging(self, staging: TableName, target: TableName) -> str:
        """The target's column types without its keys (``CREATE TABLE ... AS SELECT`` no rows)."""
        return (
            f"CREATE TABLE {self.table(staging)} AS SELECT * FROM {self.table(target)} WHERE 1 = 0"
        )

    def replace_table(self, target: TableName, staging: TableName, old: TableName) -> list[str]:
        """``RENAME TABLE`` swaps both names atomically; the old table is dropped afterwards."""
        rename = (
            f"RENAME TABLE {self.table(target)} TO {self.table(old)}, "
            f"{self.table(staging)} TO {self.table(target)}"
        )
        return [rename, self.drop_table(old)]

    def scd2_close_changed(
        self,
        target: TableName,
        staging: TableName,
        *,
        matched: str,
        tracked: list[str],
        version: VersionColumns,
        start: str,
    ) -> str:
        """A multi-table ``UPDATE ... JOIN`` the staged batch, where a tracked column differs
        (``<=>``: equal, nulls included)."""
        q = self.quote
        equal = " AND ".join(f"t.{q(c)} <=> s.{q(c)}" for c in tracked)
        return (
            f"UPDATE {self.table(target)} AS t JOIN {self.table(staging)} AS s ON {matched} "
            f"SET t.{q(version.valid_to)} = {start}, t.{q(version.is_current)} = FALSE "
            f"WHERE t.{q(version.is_current)} AND NOT ({equal})"
        )

    def upsert_on_conflict(
        self,
        target: TableName,
        source: str,
        columns: list[str],
        keys: list[str],
        audit_columns: list[str],
    ) -> str:
        """``INSERT ... ON DUPLICATE KEY UPDATE``. Audit columns are assigned first, while the
        other columns still hold the old values.

        The existing row is referenced through the target's name and the new one through the
        staging alias ``s`` (not the deprecated ``VALUES()``); MySQL 8 and MariaDB accept both.
        """
        cols = self.column_list(columns)
        updates = [c for c in columns if c not in keys]
        table = self.table(target)
        sql = (
            f"INSERT INTO {table} ({cols}) SELECT {cols} "
            f"FROM {source} AS s ON DUPLICATE KEY UPDATE "
        )
        if not updates:
            first = self.quote(keys[0])
            return sql + f"{table}.{first} = {table}.{first}"

        def old(c: str) -> str:
            return f"{table}.{self.quote(c)}"

        def new(c: str) -> str:
            return f"s.{self.quote(c)}"

        compared = [c for c in updates if c not in audit_columns]
        unchanged = " AND ".join(f"{old(c)} <=> {new(c)}" for c in compared)
        audit = [
            f"{old(c)} = IF({unchanged}, {old(c)}, {new(c)})"
            for c in updates
            if c in audit_columns and compared
        ]
        plain = [f"{old(c)} = {new(c)}" for c in updates if c not in audit_columns or not compared]
        return sql + ", ".join(audit + plain)


_PG_TYPES: dict[type[DataType], str] = {
    StringType: "TEXT",
    LongType: "BIGINT",
    IntegerType: "INTEGER",
    ShortType: "SMALLINT",
    ByteType: "SMALLINT",
    DoubleType: "DOUBLE PRECISION",
    FloatType: "REAL",
    BooleanType: "BOOLEAN",
    TimestampType: "TIMESTAMP",
    TimestampNTZType: "TIMESTAMP",
    DateType: "DATE",
    BinaryType: "BYTEA",
}
_MYSQL_TYPES: dict[type[DataType], str] = {
    StringType: "TEXT",
    LongType: "BIGINT",
    IntegerType: "INT",
    ShortType: "SMALLINT",
    ByteType: "TINYINT",
    DoubleType: "DOUBLE",
    FloatType: "FLOAT",
    BooleanType: "BOOLEAN",
    TimestampType: "DATETIME(6)",
    TimestampNTZType: "DATETIME(6)",
    DateType: "DATE",
    BinaryType: "LONGBLOB",
}


def _wall_clock_text(timestamp: Column, time_zone: str) -> Column:
    """A timestamp as the text of its wall-clock time in ``time_zone`` (from the session's zone,
    the default source), microseconds included."""
    return F.convert_timezone(None, F.lit(time_zone), timestamp).cast("string")


def _updated_columns(
    columns: list[str], keys: list[str], audit_columns: list[str]
) -> tuple[list[str], list[str]]:
    """The columns an upsert sets on a known key, and those whose change makes it an update
    (all but the audit columns, unless there is nothing else)."""
    updates = [c for c in columns if c not in keys]
    return updates, [c for c in updates if c not in audit_columns] or updates


def _escaped(text: Column) -> Column:
    """Backslash, tab, line feed and carriage return escaped with a backslash."""
    for raw, escaped in (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r")):
        text = F.replace(text, F.lit(raw), F.lit(escaped))
    return text


def _type_name(
    data_type: DataType, names: dict[type[DataType], str], nested: str, decimal: str
) -> str:
    if isinstance(data_type, DecimalType):
        return decimal.format(p=data_type.precision, s=data_type.scale)
    if isinstance(data_type, MapType | ArrayType | StructType):
        return nested
    try:
        return names[type(data_type)]
    except KeyError:
        raise DatasetConfigError(
            f"No database type for Spark type {data_type.simpleString()}: cast the column in a "
            "transform, or create the table yourself."
        ) from None


DIALECTS: dict[str, type[Dialect]] = {
    "postgresql": PostgresDialect,
    "mysql": MySQLDialect,
    "mariadb": MySQLDialect,
}


def dialect_for(url: str) -> Dialect:
    """The dialect for a ``jdbc:<name>:`` URL."""
    parts = url.split(":", 2)
    name = parts[1] if len(parts) > 2 and parts[0] == "jdbc" else ""
    if name not in DIALECTS:
        raise DatasetConfigError(
            f"Unsupported JDBC URL scheme 'jdbc:{name}:'; spark-etl has dialects for "
            f"{', '.join(sorted(DIALECTS))} (e.g. jdbc:postgresql://host:5432/db)."
        )
    return DIALECTS[name]()
