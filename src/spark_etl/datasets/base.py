"""What every source and sink strategy shares: write modes, key columns, a secret-free description.

A strategy subclasses :class:`EtlDataset` and implements ``_read``, ``_save_batch`` and ``_exists``.
``save`` dispatches on the DataFrame: a batch DataFrame is written at once with the configured write
mode; a streaming one starts a query (``foreachBatch`` over ``_save_batch``).

Checks ride along: a check attached with :meth:`EtlDataset.attach_check` (the contract hook's)
sees what ``load`` returns and what ``save`` is given, and may put guards into the plan
(:mod:`spark_etl.contracts.guards`). A strategy whose writes commit atomically says so in
:meth:`EtlDataset._commits_atomically` and lets a guard abort its own write; any other one runs the
guards in a pass of their own before it writes anything.

Writes go through a breaker attached with :meth:`EtlDataset.attach_breaker` (the runtime's
circuit breaker), keyed by :meth:`EtlDataset.system`: the server the writes reach.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, TypeVar, get_args

from kedro.io import AbstractDataset
from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery

from spark_etl._jvm import current_session, is_jvm_error, observed
from spark_etl._secrets import masked
from spark_etl._sql_metrics import PlanNode, WriteJob, described_jobs, write_job
from spark_etl.contracts import Contract, default_registry
from spark_etl.contracts.guards import explanation, is_guarded, run_guards
from spark_etl.datasets._cache import CachedLoad, parse_cache
from spark_etl.datasets._real_time import is_real_time, refuse_sink
from spark_etl.datasets._streaming import parse_settings, start_query, trigger_args
from spark_etl.datasets.exceptions import DatasetConfigError, UnsafeIdentifierError

if TYPE_CHECKING:
    from spark_etl.datasets._state import StateSlot

WriteMode = Literal["append", "overwrite", "upsert", "scd2"]
Stage = Literal["load", "save"]
#: A check of the data a dataset loads or saves: returns the data, possibly guarded.
Check = Callable[[DataFrame, Stage], DataFrame]
WRITE_MODES: tuple[str, ...] = get_args(WriteMode)
_T = TypeVar("_T")


class WriteBreaker(Protocol):
    """What guards a dataset's writes to its system (the runtime's circuit breaker)."""

    def guard(
        self, system: str, target: str, write: Callable[[], _T], *, streaming: bool = False
    ) -> _T:
        """Run ``write``, a write to ``target`` on ``system``, or refuse it (``streaming``: a
        micro-batch, which may wait instead)."""
        ...


_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class EtlDataset(AbstractDataset[DataFrame, DataFrame]):
    """Base of the spark-etl strategies (Kafka, JDBC, S3).

    Subclasses list the write modes they support in ``SUPPORTED_WRITE_MODES``; any other mode is
    refused when the catalog is parsed, never silently turned into another.
    """

    SUPPORTED_WRITE_MODES: ClassVar[frozenset[str]] = frozenset(WRITE_MODES)
    #: Columns a load adds besides the contract's fields (source metadata); contract checks
    #: ignore them.
    system_columns: ClassVar[tuple[str, ...]] = ()
    DEFAULT_LOAD_ARGS: ClassVar[dict[str, Any]] = {}
    DEFAULT_SAVE_ARGS: ClassVar[dict[str, Any]] = {}
    #: Whether the write's own plan metrics count the rows written (file writes do); else an
    #: ``Observation`` counts them while they are written.
    ROWS_FROM_WRITE_METRICS: ClassVar[bool] = False

    def __init__(
        self,
        *,
        write_mode: str = "append",
        key_columns: list[str] | None = None,
        load_args: dict[str, Any] | None = None,
        save_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        streaming: dict[str, Any] | None = None,
        cache: bool | dict[str, Any] | None = None,
    ) -> None:
        self._streaming = parse_settings(streaming, type(self).__name__)
        cached = parse_cache(cache, type(self).__name__)
        self._cache = (
            CachedLoad(cached, lambda: f"{type(self).__name__} {self.target_label()}")
            if cached
            else None
        )
        self._write_mode = self._check_write_mode(write_mode)
        self._key_columns = [check_identifier(c, "key column") for c in key_columns or []]
        if self._write_mode in ("upsert", "scd2") and not self._key_columns:
            raise DatasetConfigError(
                f"{type(self).__name__}: write_mode '{self._write_mode}' needs key_columns, the "
                "columns that identify a row (for example key_columns: [user_id])."
            )
        self._load_args = {**self.DEFAULT_LOAD_ARGS, **(load_args or {})}
        self._save_args = {**self.DEFAULT_SAVE_ARGS, **(save_args or {})}
        self.metadata = metadata
        self.last_save: SaveMetrics | None = None
        #: what the last load read, for the strategies that count it without cost (Kafka)
        self.last_load: LoadMetrics | None = None
        self.query: StreamingQuery | None = None
        self._check: Check | None = None
        self._state: StateSlot | None = None
        self._breaker: WriteBreaker | None = None

    @property
    def write_mode(self) -> str:
        """The configured write mode."""
        return self._write_mode

    def required_columns(self) -> list[str]:
        """The columns a save needs in its data, by the catalog entry's options (the keys)."""
        return list(self._key_columns)

    def saved_shape(self, data: DataFrame) -> DataFrame:
        """What ``load`` returns once ``data`` is saved, with no rows: for checks of a run, where
        a later node reads this dataset (an SCD2 table adds its version columns)."""
        return data.limit(0)

    @property
    def loads_stream(self) -> bool:
        """Whether ``load`` returns a stream (Structured Streaming)."""
        return False

    def stream_plan_problems(self, data: DataFrame) -> list[str]:
        """Why a streaming save of ``data`` would be refused before its query starts, found on
        data with no rows (the checks of a run, ``spark_etl.runtime.preflight``): here, a
        ``real-time`` trigger, which only a Kafka sink runs."""
        settings = self._streaming
        if settings is not None and is_real_time(trigger_args(settings.trigger)):
            return [str(self._real_time_refused())]
        return []

    def _real_time_refused(self) -> Exception:
        """The error for ``trigger: real-time`` on this sink."""
        return refuse_sink(type(self).__name__)

    def empty_load(self) -> DataFrame:
        """A DataFrame with the columns and types ``load`` returns, and no rows.

        For checks of a run before it writes anything (``spark_etl.runtime.preflight``): it
        reads the source's schema (file footers, a table's metadata), never its rows, and
        applies no attached check. A source that is not there raises as ``load`` would.
        """
        return self._read().limit(0)

    def _check_write_mode(self, mode: str) -> str:
        if mode not in WRITE_MODES:
            raise DatasetConfigError(
                f"{type(self).__name__}: unknown write_mode '{mode}'; use one of "
                f"{', '.join(WRITE_MODES)}."
            )
        if mode not in self.SUPPORTED_WRITE_MODES:
            raise DatasetConfigError(self._unsupported_mode_message(mode))
        return mode

    def _unsupported_mode_message(self, mode: str) -> str:
        supported = ", ".join(sorted(self.SUPPORTED_WRITE_MODES))
        return f"{type(self).__name__} cannot write in mode '{mode}'; it supports: {supported}."

    def _contract(self) -> Contract | None:
        """The contract named by ``metadata.schema``, from the project's schema registry."""
        name = (self.metadata or {}).get("schema")
        return default_registry().get(name) if name else None

    @property
    def incremental(self) -> bool:
        """Whether a load resumes where the last successful run stopped (the strategy's
        ``incremental`` option); such a dataset is given a state slot by the run's hooks."""
        return False

    def attach_state(self, slot: StateSlot | None) -> None:
        """Give an incremental source its run's state slot (``None``: read as configured)."""
        self._state = slot

    def attach_breaker(self, breaker: WriteBreaker | None) -> None:
        """Send this dataset's writes through ``breaker`` (``None``: straight to the server)."""
        self._breaker = breaker

    def system(self) -> str | None:
        """The server this dataset's writes reach, without credentials (``postgresql://db:5432``,
        the brokers, the S3 endpoint): the key of its circuit. ``None``: no breaker applies."""
        return None

    def _guarded(self, write: Callable[[], _T], *, streaming: bool = False) -> _T:
        system = self.system()
        if self._breaker is None or system is None:
            return write()
        return self._breaker.guard(system, self.target_label(), write, streaming=streaming)

    def attach_check(self, check: Check | None) -> None:
        """Let ``check`` see, and guard, what this dataset loads and saves (``None``: no check)."""
        self._check = check

    def _checked(self, data: DataFrame, stage: Stage) -> DataFrame:
        return data if self._check is None else self._check(data, stage)

    def load(self) -> DataFrame:
        """Read the data (see the strategy's ``_read``), through the attached check; with
        ``cache``, Spark's copy of it (see ``spark_etl.datasets._cache``)."""
        if self._cache is not None and self.incremental:
            raise DatasetConfigError(
                f"{type(self).__name__}: cache keeps one copy of the source, and incremental "
                "reads only what is new each run: use one of them."
            )
        data = self._checked(self._read(), "load")
        return self._cache.of(data) if self._cache is not None else data

    def _read(self) -> DataFrame:
        raise NotImplementedError

    def save(self, data: DataFrame) -> None:
        """Write ``data`` with the configured write mode (Kedro wraps this to name the dataset).

        The rows written are counted while they are written (see :meth:`_save_counted`: no
        extra job) and kept in :attr:`last_save` for the metrics hook. Guards in the plan fail the
        write itself where it commits atomically, else run first; a guard that fires is raised
        as its check's own error (a ``ContractViolationError``, a ``DataValidationError``).
        """
        data = self._checked(data, "save")
        if data.isStreaming:
            self.query = start_query(
                data, self._streaming, self._guarded_micro_batch, type(self).__name__
            )
            return
        started = time.perf_counter()
        spark = self._spark()

        def write() -> tuple[str, int | None]:
            with (
                described_jobs(spark, f"spark-etl save {self.target_label()}") as description,
                self._explained_guards(),
            ):
                if not self._commits_atomically() and is_guarded(data):
                    run_guards(data)
                return description, self._save_counted(data)

        description, records = self._guarded(write)
        job = write_job(spark, description)
        if records is None:
            records = self._rows_written(job)
        self.last_save = SaveMetrics(
            records=records,
            duration_s=round(time.perf_counter() - started, 3),
            write_mode=self._write_mode,
            job=job,
        )

    def _save_counted(self, data: DataFrame) -> int | None:
        """Write a batch; return the rows written if counted here: a Spark ``Observation``
        counts them while they are written (no extra job), unless the write's own metrics do
        (:attr:`ROWS_FROM_WRITE_METRICS`: a counter in the job would keep its rows out of
        Spark's generated code)."""
        if self.ROWS_FROM_WRITE_METRICS:
            self._save_batch(data)
            return None
        observation = Observation(f"spark_etl_save_{uuid.uuid4().hex}")
        self._save_batch(data.observe(observation, F.count(F.lit(1)).alias("rows")))
        return _observed_rows(observation)

    def _rows_written(self, job: WriteJob | None) -> int | None:
        """The rows a save wrote that :meth:`_save_counted` left uncounted
        (:attr:`ROWS_FROM_WRITE_METRICS`), from what Spark recorded of its job: a file write's
        own count."""
        return job.file_rows_written() if job is not None else None

    def target_label(self) -> str:
        """What the dataset reads and writes, for people (a path, a table, a topic)."""
        return type(self).__name__

    def rejects_as(self) -> str | None:
        """The ``dataset`` its own dead letters carry when it sends them itself, without
        knowing its catalog name (``None``: it sends none of its own)."""
        return None

    def scanned_in(self, scan: PlanNode) -> bool:
        """Whether the scan operator ``scan`` of a Spark plan reads this dataset's source (to
        tell which source a job's row counts belong to)."""
        return False

    def _commits_atomically(self) -> bool:
        """Whether a failed batch write leaves the target as it was (readers never see part of
        it, nothing old is removed first): then guards may fail the write itself."""
        return False

    @contextmanager
    def _explained_guards(self) -> Iterator[None]:
        """Re-raise a guard's Spark error as its check's own error, with the full report."""
        try:
            yield
        except Exception as exc:
            explained = explanation(exc)
            if explained is None:
                raise
            raise explained from exc

    def _guarded_micro_batch(self, batch: DataFrame, batch_id: int) -> None:
        self._guarded(lambda: self._save_micro_batch(batch, batch_id), streaming=True)

    def _save_micro_batch(self, batch: DataFrame, batch_id: int) -> None:
        """One micro-batch of a streaming save, written like a batch save."""
        self._save_batch(batch)

    def _save_batch(self, data: DataFrame) -> None:
        raise NotImplementedError

    @contextmanager
    def _translated_errors(self, action: str) -> Iterator[None]:
        """Re-raise the JVM's errors as the dataset's own (see :meth:`_translate`)."""
        try:
            yield
        except Exception as exc:
            if not is_jvm_error(exc):
                raise
            translated = self._translate(exc, action)
            if translated is None:
                raise
            raise translated from exc

    def _translate(self, exc: Exception, action: str) -> Exception | None:
        """The error to raise instead of the JVM's ``exc`` while doing ``action`` (``None``:
        keep it). Strategies name the dataset, the endpoint and what to check."""
        return None

    def _describe(self) -> dict[str, Any]:
        return {
            "write_mode": self._write_mode,
            "key_columns": self._key_columns,
            "load_args": redact(self._load_args),
            "save_args": redact(self._save_args),
        }

    @staticmethod
    def _spark() -> SparkSession:
        """The active session: built by the runtime's SparkHooks (or a test fixture), never here."""
        spark = current_session()
        if spark is None:
            raise DatasetConfigError(
                "No active SparkSession: run through `kedro run` (its SparkHooks start one) "
                "or call "
                "spark_etl.runtime.spark.get_spark() first."
            )
        return spark


@dataclass(frozen=True)
class LoadMetrics:
    """What the last ``load`` read, counted by the first Spark job over it (no job of its own).

    ``counts()`` is ``None`` until a job has read the data (nodes are lazy until their output is
    written).
    """

    observation: Observation | None = None
    #: counts known without a job (an incremental range that is empty)
    known: dict[str, int] | None = None

    def counts(self) -> dict[str, int] | None:
        """The counters (``records``, and strategy-specific ones), if a job read the data."""
        if self.observation is None:
            return self.known
        metrics = observed(self.observation)
        return None if metrics is None else {k: int(v or 0) for k, v in metrics.items()}


@dataclass(frozen=True)
class SaveMetrics:
    """What the last ``save`` wrote."""

    records: int | None
    duration_s: float
    write_mode: str
    #: what Spark recorded of the write job (its scans and operators), if it could be read
    job: WriteJob | None = None


def _observed_rows(observation: Observation) -> int | None:
    """The rows counted by ``observation``, or ``None`` if no job ran over the observed plan."""
    metrics = observed(observation)
    return None if metrics is None else int(metrics.get("rows", 0))


def check_identifier(name: str, what: str = "identifier") -> str:
    """Return ``name`` if it is a plain SQL identifier, else raise before any SQL is built.

    Raises:
        UnsafeIdentifierError: for anything but letters, digits and underscores (not leading digit).
    """
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise UnsafeIdentifierError(
            f"Invalid {what} {name!r}: only letters, digits and underscores are allowed "
            "(at most 63, not starting with a digit). Rename it in the catalog or alias the "
            "column in a transform."
        )
    return name


def redact(values: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``values`` with every secret-looking key's value masked (for ``_describe``)."""
    return masked(values)


def stringify_options(options: dict[str, Any]) -> dict[str, str]:
    """Reader/writer options as Spark wants them: strings, booleans in lower case."""
    return {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in options.items()}
