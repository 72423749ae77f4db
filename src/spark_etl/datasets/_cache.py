"""Reference data kept in Spark's cache: a source's ``cache`` setting.

A table or folder joined into a stream (the static side of a stream-static join) is read again by
every micro-batch: Spark plans each batch from the same logical plan, and nothing keeps the rows
in between. ``cache: true`` persists what the load read (memory, then local disk), so micro-batches
and the nodes of a batch run that load the dataset again read Spark's copy, not the server.
The copy is filled when the dataset is loaded (one read of the source, before the stream starts).
``refresh`` reads the source again every so often, in the driver's own thread, and swaps the copy;
a micro-batch planned while the new copy fills reads the source itself. ``broadcast`` marks it
for a broadcast join, so a join sends the copy to the executors instead of shuffling the stream.

The copy is Spark's cache of the load's plan. Spark's cache manager swaps it into every plan that
reads the same thing, so a refresh is seen by the next micro-batch without restarting the query.
That is also why the copy must not outlive its run: a later run in the same process (a notebook,
an orchestrator's worker) would read the copy, not the source, for any dataset reading the same
table. :func:`release_cached` drops every copy and stops every refresh; the Spark hook calls it
when a run ends, failed or not.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from spark_etl._durations import duration
from spark_etl.datasets.exceptions import DatasetConfigError

logger = logging.getLogger(__name__)

_KEYS = {"refresh", "broadcast"}

#: The copies filled and not yet dropped (a dataset the catalog let go of drops out by itself).
_filled: weakref.WeakSet[CachedLoad] = weakref.WeakSet()


@dataclass(frozen=True)
class CacheSettings:
    """A source's ``cache`` setting: how often the copy is dropped (``None``: never, for the
    process's life) and whether joins broadcast it."""

    refresh_s: float | None = None
    broadcast: bool = False


def parse_cache(raw: bool | dict[str, Any] | None, owner: str) -> CacheSettings | None:
    """The ``cache`` setting of a catalog entry (``None``: not cached).

    Raises:
        DatasetConfigError: naming the entry and what is wrong.
    """
    if raw is None or raw is False:
        return None
    if raw is True:
        return CacheSettings()
    if not isinstance(raw, dict) or set(raw) - _KEYS:
        unknown = sorted(set(raw) - _KEYS) if isinstance(raw, dict) else [repr(raw)]
        raise DatasetConfigError(
            f"{owner}: cache takes true, or {{refresh: 10m, broadcast: true}}; got "
            f"{', '.join(map(str, unknown))}."
        )
    refresh = raw.get("refresh")
    try:
        refresh_s = None if refresh is None else duration(str(refresh)).total_seconds()
    except ValueError as exc:
        raise DatasetConfigError(f"{owner}: cache.refresh '{refresh}' is {exc}.") from None
    if refresh_s is not None and refresh_s <= 0:
        raise DatasetConfigError(f"{owner}: cache.refresh must be longer than 0.")
    return CacheSettings(refresh_s=refresh_s, broadcast=bool(raw.get("broadcast", False)))


class CachedLoad:
    """The cached copy of one dataset's loads, and its refresh timer."""

    def __init__(self, settings: CacheSettings, owner: Callable[[], str]) -> None:
        self._settings = settings
        # what the logs name: asked when the copy fills (the dataset knows its table by then)
        self._label = owner
        self._owner = ""
        self._data: DataFrame | None = None
        self._stop = threading.Event()
        self._timer: threading.Thread | None = None

    def of(self, data: DataFrame) -> DataFrame:
        """``data`` cached (and marked for broadcast). A later load (the check before the first
        write loads each source too, a retry loads it again) gets the same copy: ``refresh`` is
        what renews it."""
        if data.isStreaming:
            return data
        if self._data is not None:
            return self._hinted(self._data)
        self._owner = self._label()
        self._data = data.persist(StorageLevel.MEMORY_AND_DISK)
        _filled.add(self)
        rows = self._data.count()  # filled now: concurrent jobs would each read the source
        logger.info(
            "%s: %d rows cached for micro-batches and later loads%s",
            self._owner,
            rows,
            f", read again every {self._settings.refresh_s:g} s"
            if self._settings.refresh_s
            else "",
            extra={
                "event": "reference_cached",
                "dataset": self._owner,
                "rows": rows,
                "refresh_s": self._settings.refresh_s,
                "broadcast": self._settings.broadcast,
            },
        )
        if self._settings.refresh_s:
            self._stop = threading.Event()
            self._timer = threading.Thread(
                target=self._refresh_every,
                args=(self._data, self._settings.refresh_s, self._stop),
                name=f"spark-etl cache refresh {self._owner}",
                daemon=True,
            )
            self._timer.start()
        return self._hinted(self._data)

    def _hinted(self, data: DataFrame) -> DataFrame:
        return F.broadcast(data) if self._settings.broadcast else data

    def close(self) -> None:
        """Stop the refresh timer and drop the copy."""
        self._stop.set()
        _filled.discard(self)
        if self._data is not None:
            _drop(self._data)
            self._data = None

    @property
    def filled(self) -> bool:
        """Whether the copy is in Spark's cache (loaded, and not dropped since)."""
        return self._data is not None

    def _refresh_every(self, data: DataFrame, seconds: float, stop: threading.Event) -> None:
        while not stop.wait(seconds):
            if not _drop(data):
                return
            try:
                rows = data.persist(StorageLevel.MEMORY_AND_DISK).count()
            except Exception as exc:  # the session is gone, or the source failed: say so
                if stop.is_set():
                    return
                logger.warning(
                    "%s: reading it again for the cache failed (%s); micro-batches read the "
                    "source until the next refresh",
                    self._owner,
                    exc,
                    extra={"event": "reference_refresh_failed", "dataset": self._owner},
                )
                continue
            logger.info(
                "%s: cache refreshed, %d rows",
                self._owner,
                rows,
                extra={"event": "reference_refreshed", "dataset": self._owner, "rows": rows},
            )


def release_cached() -> int:
    """Drop every cached copy of reference data and stop its refresh (the end of a run): the
    next load reads the source again. Returns how many copies were dropped."""
    copies = list(_filled)
    for copy in copies:
        copy.close()
    return len(copies)


def _drop(data: DataFrame) -> bool:
    try:
        data.unpersist(blocking=False)
    except Exception:  # the session is gone: nothing to drop
        return False
    return True
