"""The offset range of an incremental Kafka batch: from where the last successful run stopped to
the end of each partition when the load starts.

The end is fixed at load time (the broker's latest offsets then), so the range read is exactly
the range committed afterwards, however many records arrive meanwhile. A partition the state does
not know yet (a first run, a partition added since) starts at the configured
``starting_offsets``: ``earliest``, ``latest`` (read nothing of it now), or an offset of its own.
"""

from __future__ import annotations

import json
import re
from typing import Any

from spark_etl.datasets.exceptions import DatasetConfigError

#: Spark's Kafka source: -2 is a partition's earliest offset.
EARLIEST = -2

Offsets = dict[str, dict[str, int]]


def end_offsets(admin: Any, jvm: Any, topics: list[str], timeout_s: int) -> Offsets:
    """The next offset of every partition of ``topics`` now (Kafka's admin client)."""
    seconds = jvm.java.util.concurrent.TimeUnit.SECONDS
    names = jvm.java.util.ArrayList()
    for topic in topics:
        names.add(topic)
    described = admin.describeTopics(names).allTopicNames().get(timeout_s, seconds)
    specs = jvm.java.util.HashMap()
    latest = jvm.org.apache.kafka.clients.admin.OffsetSpec.latest()
    for topic in topics:
        for info in described.get(topic).partitions():
            specs.put(jvm.org.apache.kafka.common.TopicPartition(topic, info.partition()), latest)
    listed = admin.listOffsets(specs).all().get(timeout_s, seconds)
    found: Offsets = {topic: {} for topic in topics}
    for entry in listed.entrySet():
        partition = entry.getKey()
        found[str(partition.topic())][str(partition.partition())] = int(entry.getValue().offset())
    return found


def matching(pattern: str, names: set[str]) -> list[str]:
    """The topics ``pattern`` (a regex over the whole name) subscribes to."""
    return sorted(n for n in names if re.fullmatch(pattern, n))


def incremental_range(
    committed: Offsets | None, end: Offsets, starting: str | dict[str, Any]
) -> tuple[Offsets, Offsets]:
    """``(start, end)`` of the next read: each partition from its committed offset, else from
    ``starting`` (``earliest``, ``latest`` or ``{topic: {partition: offset}}``)."""
    start: Offsets = {}
    for topic, partitions in end.items():
        start[topic] = {}
        for partition, last in partitions.items():
            known = (committed or {}).get(topic, {}).get(partition)
            if known is not None and int(known) > last:
                raise DatasetConfigError(
                    f"Kafka topic '{topic}' partition {partition} ends at offset {last}, before "
                    f"the committed offset {known}: the topic was recreated or truncated since "
                    "the last run. Read it from the start with `kedro run --full-refresh`, or "
                    "forget its state with `kedro state reset --pipeline <pipeline>`."
                )
            if known is not None:
                start[topic][partition] = int(known)
            elif starting == "latest":
                start[topic][partition] = last
            elif isinstance(starting, dict):
                given = starting.get(topic, {}).get(
                    partition, starting.get(topic, {}).get(int(partition))
                )
                start[topic][partition] = EARLIEST if given is None else int(given)
            else:
                start[topic][partition] = EARLIEST
    return start, end


def range_options(start: Offsets, end: Offsets) -> dict[str, str]:
    """Spark Kafka reader options that read exactly ``start`` to ``end`` (partitions assigned,
    not subscribed: a partition added meanwhile waits for the next run)."""
    return {
        "assign": json.dumps({t: sorted(int(p) for p in parts) for t, parts in end.items()}),
        "startingOffsets": json.dumps(start),
        "endingOffsets": json.dumps(end),
    }


def records_between(start: Offsets, end: Offsets) -> int | None:
    """How many offsets the range spans (``None`` if a start is ``earliest``: not known
    without asking the broker; compaction and transactions make offsets, not records)."""
    total = 0
    for topic, partitions in end.items():
        for partition, last in partitions.items():
            first = start[topic][partition]
            if first < 0:
                return None
            total += last - first
    return total
