"""Where incremental sources keep what they read, from one run to the next.

An incremental source (a Kafka batch with ``incremental: true``) asks its :class:`StateSlot`
where the last successful run stopped, reads from there up to a position it fixes when it loads,
and leaves that position *pending* in the slot. The run's state hooks commit the pending
position to the :class:`StateStore` only once every node that uses the source has finished
(its sinks are written); a failed or killed run commits nothing and the next run reads the same
range again. Positions are JSON objects, keyed by pipeline and dataset.

Two stores, chosen in ``runtime.yml``'s ``state`` section:

* ``path: s3a://bucket/prefix/`` (or a local folder): one JSON object per pipeline and dataset,
  ``<path>/<pipeline>/<dataset>.json``, replaced whole (an S3 PUT; a rename on a local disk);
* ``url: jdbc:postgresql://...`` (or MySQL/MariaDB) with ``credentials``: a table,
  ``spark_etl_state`` by default, one row per pipeline and dataset, replaced in a transaction.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from spark_etl._jvm import current_session, jvm_of
from spark_etl.datasets._dialects import dialect_for
from spark_etl.datasets._jdbc_connection import open_connection
from spark_etl.datasets._s3_location import S3Location, read_text, write_text
from spark_etl.datasets.base import check_identifier
from spark_etl.datasets.exceptions import DatasetConfigError

DEFAULT_TABLE = "spark_etl_state"


@dataclass(frozen=True)
class StateEntry:
    """One source's committed position."""

    pipeline: str
    dataset: str
    position: dict[str, Any]
    run_id: str
    updated_at: str


class StateStore(Protocol):
    """Reads and replaces committed positions."""

    def read(self, pipeline: str, dataset: str) -> StateEntry | None:
        """The committed position of ``dataset`` in ``pipeline``, if any."""

    def write(self, entry: StateEntry) -> None:
        """Replace the entry of its pipeline and dataset, whole."""

    def delete(self, pipeline: str, dataset: str | None = None) -> int:
        """Forget ``pipeline``'s entries (one dataset's, or all); how many were removed."""

    def entries(self, pipeline: str | None = None) -> list[StateEntry]:
        """Every entry (of ``pipeline``)."""

    def describe(self) -> str:
        """Where the store is, for people (no secret)."""


@dataclass
class StateSlot:
    """One incremental source's state during a run: the committed position, and the one its
    load fixed, kept until the run's hooks commit it."""

    store: StateStore
    pipeline: str
    dataset: str
    full_refresh: bool = False
    pending: dict[str, Any] | None = None

    def committed(self) -> dict[str, Any] | None:
        """Where the last successful run stopped (``None``: never, or a full refresh)."""
        if self.full_refresh:
            return None
        entry = self.store.read(self.pipeline, self.dataset)
        return entry.position if entry is not None else None

    def hold(self, position: dict[str, Any]) -> None:
        """Keep ``position`` to commit once the source's data is written."""
        self.pending = position

    def commit(self, run_id: str) -> StateEntry | None:
        """Write the pending position (if any) to the store; return what was written."""
        if self.pending is None:
            return None
        entry = StateEntry(
            self.pipeline,
            self.dataset,
            self.pending,
            run_id,
            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        )
        self.store.write(entry)
        self.pending = None
        return entry


def state_store(settings: dict[str, Any], credentials: dict[str, Any] | None) -> StateStore:
    """The store ``runtime.yml``'s ``state`` section names (``path``, or ``url`` [+ ``table``]).

    Raises:
        DatasetConfigError: for neither or both, or an unknown key.
    """
    unknown = set(settings) - {"path", "url", "table", "credentials"}
    if unknown:
        raise DatasetConfigError(
            f"runtime.yml: state has no option {sorted(unknown)}; use path (an S3 or local "
            "folder) or url + credentials (+ table) for a database."
        )
    if bool(settings.get("path")) == bool(settings.get("url")):
        raise DatasetConfigError(
            "runtime.yml: state needs either path (s3a://bucket/prefix/ or a local folder) or "
            "url (jdbc:postgresql://... or jdbc:mysql://...) with credentials."
        )
    if settings.get("path"):
        return FileStateStore(str(settings["path"]), credentials)
    return JDBCStateStore(
        str(settings["url"]), credentials or {}, str(settings.get("table") or DEFAULT_TABLE)
    )


def _entry(pipeline: str, dataset: str, data: dict[str, Any]) -> StateEntry:
    return StateEntry(
        pipeline, dataset, dict(data["position"]), str(data["run_id"]), str(data["updated_at"])
    )


def _as_json(entry: StateEntry) -> str:
    return json.dumps(
        {"position": entry.position, "run_id": entry.run_id, "updated_at": entry.updated_at},
        sort_keys=True,
    )


class FileStateStore:
    """Entries as JSON objects under a folder of S3 (through s3a, as the S3 datasets reach it)
    or of the local disk."""

    def __init__(self, path: str, credentials: dict[str, Any] | None = None) -> None:
        self._path = path.rstrip("/") + "/"
        self._credentials = credentials
        self._scheme = urlsplit(self._path).scheme
        if self._scheme not in ("", "file", "s3a"):
            raise DatasetConfigError(
                f"runtime.yml: state path '{path}': use s3a://bucket/prefix/ or a local folder."
            )

    def describe(self) -> str:
        """The folder."""
        return self._path

    def _local(self, *parts: str) -> Path:
        return Path(urlsplit(self._path).path if self._scheme else self._path, *parts)

    def _fs(self) -> tuple[Any, Any]:
        # the bucket's settings (endpoint, credentials) as the S3 datasets set them
        reach = S3Location(self._path, self._credentials or {})
        reach.configure(_session())
        return reach.filesystem(_session())

    def read(self, pipeline: str, dataset: str) -> StateEntry | None:
        """The entry's object, if there is one."""
        name = f"{_key(pipeline)}/{_key(dataset)}.json"
        if self._scheme != "s3a":
            file = self._local(name)
            return (
                _entry(pipeline, dataset, json.loads(file.read_text())) if file.is_file() else None
            )
        fs, root = self._fs()
        path = _child(root, name)
        if not fs.exists(path):
            return None
        return _entry(pipeline, dataset, json.loads(read_text(_session(), fs, path)))

    def write(self, entry: StateEntry) -> None:
        """Replace the entry's object whole (a PUT on S3, a rename on a local disk)."""
        name = f"{_key(entry.pipeline)}/{_key(entry.dataset)}.json"
        text = _as_json(entry)
        if self._scheme != "s3a":
            file = self._local(name)
            file.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=file.parent, prefix=".state-")
            with os.fdopen(fd, "w") as out:
                out.write(text)
            os.replace(tmp, file)
            return
        fs, root = self._fs()
        write_text(fs, _child(root, name), text)

    def delete(self, pipeline: str, dataset: str | None = None) -> int:
        """Remove the objects of ``pipeline`` (one dataset's, or all)."""
        gone = [e for e in self.entries(pipeline) if dataset in (None, e.dataset)]
        for entry in gone:
            name = f"{_key(entry.pipeline)}/{_key(entry.dataset)}.json"
            if self._scheme != "s3a":
                self._local(name).unlink()
            else:
                fs, root = self._fs()
                fs.delete(_child(root, name), False)
        return len(gone)

    def entries(self, pipeline: str | None = None) -> list[StateEntry]:
        """Every object under the folder (of ``pipeline``)."""
        found = []
        for pipe, dataset in self._names():
            if pipeline in (None, pipe):
                entry = self.read(pipe, dataset)
                if entry is not None:
                    found.append(entry)
        return found

    def _names(self) -> list[tuple[str, str]]:
        if self._scheme != "s3a":
            base = self._local()
            return sorted((p.parent.name, p.stem) for p in base.glob("*/*.json") if base.is_dir())
        fs, root = self._fs()
        if not fs.exists(root):
            return []
        names, files = [], fs.listFiles(root, True)
        while files.hasNext():
            path = files.next().getPath()
            if path.getName().endswith(".json"):
                names.append((str(path.getParent().getName()), str(path.getName())[:-5]))
        return sorted(names)


class JDBCStateStore:
    """Entries as rows of a table in PostgreSQL or MySQL/MariaDB (created when first needed)."""

    def __init__(self, url: str, credentials: dict[str, Any], table: str = DEFAULT_TABLE) -> None:
        self._url = url
        self._dialect = dialect_for(url)
        self._credentials = {k: str(v) for k, v in credentials.items()}
        self._table = check_identifier(table, "state table")
        self._created = False

    def describe(self) -> str:
        """The table and the server (no credentials)."""
        return f"table {self._table} at {self._url.split('?', 1)[0]}"

    def _connect(self) -> Any:
        conn = open_connection(_session(), self._dialect, self._url, self._credentials)
        if not self._created:
            statement = conn.createStatement()
            try:
                statement.executeUpdate(
                    f"CREATE TABLE IF NOT EXISTS {self._table} (pipeline VARCHAR(200) NOT NULL, "
                    "dataset VARCHAR(200) NOT NULL, position TEXT NOT NULL, run_id VARCHAR(100) "
                    "NOT NULL, updated_at VARCHAR(40) NOT NULL, PRIMARY KEY (pipeline, dataset))"
                )
            finally:
                statement.close()
            self._created = True
        return conn

    def _select(self, where: str, values: list[str]) -> list[StateEntry]:
        conn = self._connect()
        try:
            statement = conn.prepareStatement(
                f"SELECT pipeline, dataset, position, run_id, updated_at FROM {self._table}"
                f"{where} ORDER BY pipeline, dataset"
            )
            for i, value in enumerate(values, start=1):
                statement.setString(i, value)
            rs = statement.executeQuery()
            found = []
            while rs.next():
                found.append(
                    StateEntry(
                        str(rs.getString(1)),
                        str(rs.getString(2)),
                        json.loads(str(rs.getString(3))),
                        str(rs.getString(4)),
                        str(rs.getString(5)),
                    )
                )
            statement.close()
            return found
        finally:
            conn.close()

    def read(self, pipeline: str, dataset: str) -> StateEntry | None:
        """The entry's row, if there is one."""
        rows = self._select(" WHERE pipeline = ? AND dataset = ?", [pipeline, dataset])
        return rows[0] if rows else None

    def entries(self, pipeline: str | None = None) -> list[StateEntry]:
        """Every row (of ``pipeline``)."""
        return self._select(*((" WHERE pipeline = ?", [pipeline]) if pipeline else ("", [])))

    def write(self, entry: StateEntry) -> None:
        """Replace the entry's row in one transaction."""
        self._run(
            [
                (
                    f"DELETE FROM {self._table} WHERE pipeline = ? AND dataset = ?",
                    [entry.pipeline, entry.dataset],
                ),
                (
                    (
                        f"INSERT INTO {self._table} (pipeline, dataset, position, run_id, "
                        "updated_at) VALUES (?, ?, ?, ?, ?)"
                    ),
                    [
                        entry.pipeline,
                        entry.dataset,
                        json.dumps(entry.position, sort_keys=True),
                        entry.run_id,
                        entry.updated_at,
                    ],
                ),
            ]
        )

    def delete(self, pipeline: str, dataset: str | None = None) -> int:
        """Delete the rows of ``pipeline`` (one dataset's, or all)."""
        if dataset is None:
            return self._run([(f"DELETE FROM {self._table} WHERE pipeline = ?", [pipeline])])
        return self._run(
            [(f"DELETE FROM {self._table} WHERE pipeline = ? AND dataset = ?", [pipeline, dataset])]
        )

    def _run(self, statements: list[tuple[str, list[str]]]) -> int:
        conn = self._connect()
        try:
            conn.setAutoCommit(False)
            changed = 0
            for sql, values in statements:
                prepared = conn.prepareStatement(sql)
                for i, value in enumerate(values, start=1):
                    prepared.setString(i, value)
                changed = int(prepared.executeUpdate())
                prepared.close()
            conn.commit()
            return changed
        except Exception:
            conn.rollback()
            raise
        finally:
            conn.close()


def _key(name: str) -> str:
    """A pipeline or dataset name as a file name (declared names hold letters, digits, ``_``,
    ``.`` and ``-``; anything else is refused rather than mapped)."""
    if not name or not all(c.isalnum() or c in "_.-," for c in name) or name.startswith("."):
        raise DatasetConfigError(f"'{name}' cannot name a state entry (letters, digits, _ . - ,).")
    return name


def _child(root: Any, name: str) -> Any:
    return jvm_of(_session()).org.apache.hadoop.fs.Path(root, name)


def _session() -> Any:
    spark = current_session()
    if spark is None:
        raise DatasetConfigError("The state store needs a SparkSession (run through kedro run).")
    return spark
