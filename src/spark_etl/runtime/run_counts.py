"""What a run read and wrote, per dataset, and whether the counts add up.

Records written are each save's own count (:class:`~spark_etl.datasets.base.SaveMetrics`).
Records read come from the sources that count them while they are read (Kafka: records and
tombstones) and, for the others, from the scans of the jobs that wrote the run's sinks: Spark's
plan metrics give the rows each scan returned (after the filters pushed into the source), and the
dataset whose path or table the scan reads is named by :meth:`EtlDataset.scanned_in`. When one
source feeds several sinks, its records read are the most any one write job read.

Each sink's write job is reconciled: the rows its scans returned must equal the records written
plus those rejected (dead letters, dropped by a quality rule) and skipped (Kafka tombstones) on
the way from its sources. A job with an operator that changes the number of rows on purpose
(an aggregation, a join, a filter) cannot be held to that; its reconciliation says which
operators, and only a job without one that does not add up is a warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline

    from spark_etl.datasets.base import SaveMetrics


@dataclass(frozen=True)
class Reconciliation:
    """One sink's write job: the rows in, and where they went."""

    sink: str
    rows_in: int
    written: int
    rejected: int
    skipped: int
    #: operators of the job that change the number of rows on purpose (none: it must add up)
    changes: tuple[str, ...] = ()

    @property
    def adds_up(self) -> bool:
        """Whether in = written + rejected + skipped."""
        return self.rows_in == self.written + self.rejected + self.skipped

    @property
    def unexplained(self) -> bool:
        """Whether the counts do not add up although nothing in the job changes them."""
        return not self.adds_up and not self.changes

    def line(self) -> str:
        """The reconciliation in words."""
        parts = [f"{self.written:,} written"]
        parts += [f"{self.rejected:,} rejected"] if self.rejected else []
        parts += [f"{self.skipped:,} skipped"] if self.skipped else []
        if self.adds_up:
            return f"{self.sink}: {self.rows_in:,} in = {' + '.join(parts)}"
        if self.changes:
            return (
                f"{self.sink}: {self.rows_in:,} in -> {' + '.join(parts)} "
                f"(the job changes the count: {', '.join(self.changes)})"
            )
        missing = self.rows_in - self.written - self.rejected - self.skipped
        return (
            f"{self.sink}: {self.rows_in:,} in, {' + '.join(parts)}: {missing:,} record(s) "
            "unaccounted for"
        )

    def as_dict(self) -> dict[str, Any]:
        """The fields of ``run_end.reconciliation``."""
        return {
            "sink": self.sink,
            "in": self.rows_in,
            "written": self.written,
            "rejected": self.rejected,
            "skipped": self.skipped,
            "adds_up": self.adds_up,
            "changes": list(self.changes),
        }


@dataclass
class RunCounts:
    """The counts of one run, kept by the run's hooks."""

    writes: dict[str, dict[str, Any]] = field(default_factory=dict)
    loaded: list[str] = field(default_factory=list)
    _scanned: dict[str, int] = field(default_factory=dict)
    _saves: list[tuple[str, SaveMetrics]] = field(default_factory=list)
    _upstream: dict[str, set[str]] = field(default_factory=dict)

    def start(self, pipeline: Pipeline | None) -> None:
        """Forget the last run; learn which datasets each dataset is made from."""
        self.writes.clear()
        self.loaded.clear()
        self._scanned.clear()
        self._saves.clear()
        self._upstream = _upstream_of(pipeline) if pipeline is not None else {}

    def on_load(self, name: str) -> None:
        """A node loaded ``name``."""
        if name not in self.loaded:
            self.loaded.append(name)

    def on_save(self, name: str, metrics: SaveMetrics, catalog: CatalogProtocol | None) -> None:
        """``name`` was saved: add its write, and what its write job read from each source."""
        write = self.writes.setdefault(
            name, {"records": 0, "write_mode": metrics.write_mode, "duration_s": 0.0}
        )
        write["records"] = (
            None
            if metrics.records is None or write["records"] is None
            else write["records"] + metrics.records
        )
        write["duration_s"] = round(write["duration_s"] + (metrics.duration_s or 0.0), 3)
        self._saves.append((name, metrics))
        if metrics.job is None or catalog is None:
            return
        sources = [(d, _dataset(catalog, d)) for d in self.loaded]
        for scan in metrics.job.scans:
            source = next((d for d, ds in sources if ds is not None and ds.scanned_in(scan)), None)
            if source is not None and scan.rows is not None:
                self._scanned[source] = max(self._scanned.get(source, 0), scan.rows)

    def reads(self, catalog: CatalogProtocol | None) -> dict[str, dict[str, int]]:
        """The records read per source: its own counts (Kafka), else its scans'."""
        reads: dict[str, dict[str, int]] = {}
        for name in self.loaded:
            counts = _own_counts(catalog, name)
            if counts is not None:
                reads[name] = counts
            elif name in self._scanned:
                reads[name] = {"records": self._scanned[name]}
        return reads

    def reconciliations(
        self, rejected: dict[str, int], catalog: CatalogProtocol | None
    ) -> list[Reconciliation]:
        """One per save whose write job and records written are known."""
        found = []
        for name, metrics in self._saves:
            job = metrics.job
            rows_in = job.rows_in if job is not None else None
            if job is None or rows_in is None or metrics.records is None:
                continue
            lineage = {name, *self._upstream.get(name, set())}
            skipped = sum(
                (_own_counts(catalog, d) or {}).get("skipped", 0) for d in sorted(lineage)
            )
            # a source's own dead letters name it its own way (kafka:<topic>)
            origins = lineage | {_rejects_as(catalog, d) or d for d in lineage}
            found.append(
                Reconciliation(
                    sink=name,
                    rows_in=rows_in,
                    written=metrics.records,
                    rejected=sum(rejected.get(d, 0) for d in origins),
                    skipped=skipped,
                    changes=tuple(job.count_changes),
                )
            )
        return found


def _dataset(catalog: CatalogProtocol | None, name: str) -> Any:
    if catalog is None:
        return None
    try:
        dataset = catalog.get(name)
    except Exception:  # a catalog that cannot build it has nothing to tell
        return None
    return dataset if hasattr(dataset, "scanned_in") else None


def _rejects_as(catalog: CatalogProtocol | None, name: str) -> str | None:
    dataset = _dataset(catalog, name)
    return dataset.rejects_as() if dataset is not None else None


def _own_counts(catalog: CatalogProtocol | None, name: str) -> dict[str, int] | None:
    """What a source counted while it was read (``last_load``), once a job read it."""
    dataset = _dataset(catalog, name)
    metrics = getattr(dataset, "last_load", None)
    return metrics.counts() if metrics is not None else None


def _upstream_of(pipeline: Pipeline) -> dict[str, set[str]]:
    """For each dataset a node outputs, every dataset it is made from, directly or not."""
    made_from: dict[str, set[str]] = {}
    for node in pipeline.nodes:
        for output in node.outputs:
            made_from.setdefault(output, set()).update(node.inputs)
    upstream: dict[str, set[str]] = {}

    def walk(name: str, seen: set[str]) -> set[str]:
        if name in upstream:
            return upstream[name]
        found: set[str] = set()
        for parent in made_from.get(name, set()):
            if parent in seen:
                continue
            found |= {parent, *walk(parent, seen | {parent})}
        upstream[name] = found
        return found

    for name in made_from:
        walk(name, {name})
    return upstream
