"""The files an incremental S3 source has not processed yet.

::

    incremental: true             # or {lag: 15 minutes}

The load lists the data files under the dataset's path with their modification times and reads
the new ones: those modified after the committed mark, and those within ``lag`` of it that the
state has not seen. The new mark (the newest modification time listed) and the names within
``lag`` of it are held in the source's state slot and committed once the data is written.

Why a lag: S3 gives a multipart upload the time it *started* as its modification time, so a
large file that completes after a run listed its folder can carry an older time than files that
run read. Files within ``lag`` of the mark are listed again on the next run and read if they are
new; the state keeps only their names, so it stays small however many files the folder holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from spark_etl._durations import spark_interval
from spark_etl.datasets.exceptions import DatasetConfigError

DEFAULT_LAG = "15 minutes"

#: A data file: its path relative to the dataset's folder, and its modification time (epoch ms).
Listed = tuple[str, int]


@dataclass(frozen=True)
class FileWindow:
    """How far behind its mark an incremental S3 source looks again for new files."""

    lag_ms: int

    @classmethod
    def parse(cls, settings: Any, where: str) -> FileWindow | None:
        """The ``incremental`` option of an S3 catalog entry (``None``: not incremental)."""
        if settings in (None, False):
            return None
        if settings is True:
            settings = {}
        if not isinstance(settings, dict) or set(settings) - {"lag"}:
            raise DatasetConfigError(
                f"S3Dataset '{where}': incremental is true, or {{lag: 15 minutes}}."
            )
        lag = str(settings.get("lag", DEFAULT_LAG))
        try:
            length = spark_interval(lag)
        except ValueError as exc:
            raise DatasetConfigError(
                f"S3Dataset '{where}': incremental.lag '{lag}' is {exc}."
            ) from None
        return cls(int(length.total_seconds() * 1000))

    def new_files(
        self, listed: list[Listed], committed: dict[str, Any] | None
    ) -> tuple[list[str], dict[str, Any]]:
        """The files to read now, and the position to commit once they are written."""
        if committed is None:
            new = [name for name, _ in listed]
            mark = max((t for _, t in listed), default=0)
        else:
            mark = int(committed.get("mtime", 0))
            seen = set(committed.get("seen", []))
            new = [
                name
                for name, modified in listed
                if modified > mark or (modified > mark - self.lag_ms and name not in seen)
            ]
            mark = max([mark, *(t for _, t in listed)])
        window = sorted(name for name, modified in listed if modified > mark - self.lag_ms)
        return sorted(new), {"mtime": mark, "seen": window}
