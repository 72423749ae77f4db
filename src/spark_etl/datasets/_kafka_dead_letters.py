"""Routing a Kafka source's undecodable values: to the run's dead-letter queue, or a halt.

Three routings, by how the source is read:

- a batch read sends them to the dead letters (or halts, naming the first offsets);
- a stream notes where they are while it decodes them (an ``observe``), and the spark-etl sink
  that writes it reads back those offsets after each micro-batch, before Spark commits the batch
  (:class:`~spark_etl.datasets._streaming.AfterBatch`): the topic is read once;
- a stream whose sink cannot do that (Spark's file sink, a query outside spark-etl) has a side
  query send them, which reads the topic a second time.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as F

from spark_etl.contracts import deadletter
from spark_etl.datasets._kafka_codec import ValueCodec, undecoded
from spark_etl.datasets._real_time import is_real_time
from spark_etl.datasets._streaming import AfterBatch, after_each_batch, trigger_args
from spark_etl.datasets.exceptions import DatasetConfigError, UndecodableRecordsError

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame
    from pyspark.sql.streaming import StreamingQuery

    from spark_etl.contracts import Contract
    from spark_etl.datasets._streaming import StreamingSettings

# The Kafka dataset's log lines, under its name wherever its helpers live: logging configs and
# filters name the dataset's logger.
logger = logging.getLogger("spark_etl.datasets.kafka")

_REPORTED_CORRUPT = 5
_FLAG = "_spark_etl_undecodable"


@dataclass(frozen=True)
class UndecodableValues:
    """What routing a Kafka source's undecodable values needs, as its dataset hands it over.

    Attributes:
        codec: how the values are decoded, and named in a dead letter's reason.
        contract: the contract the values are decoded as.
        schema: the contract's name in the catalog entry (for messages).
        topics: the dataset's topics (or pattern), for messages and the dead letters.
        consumer: the options of a batch read of the dataset's brokers (the consumer's own,
            SASL, the bootstrap servers), to read back what a micro-batch noted.
        read_kafka: a batch read of Kafka with the given options.
        translated_errors: the dataset's translation of the JVM's errors while doing an action.
        streaming: the dataset's streaming settings (the side query's checkpoint and trigger).
    """

    codec: ValueCodec
    contract: Contract
    schema: str
    topics: str
    consumer: dict[str, str]
    read_kafka: Callable[[dict[str, str]], DataFrame]
    translated_errors: Callable[[str], AbstractContextManager[None]]
    streaming: StreamingSettings | None

    def error(self, where: str) -> UndecodableRecordsError:
        """The error that halts a read on the values at ``where`` (``topic/partition@offset``)."""
        return UndecodableRecordsError(
            f"KafkaDataset '{self.topics}': values at {where} cannot be decoded as "
            f"{self.codec.value_format} records of contract '{self.schema}' "
            f"({self.codec.wire} wire format). Fix the producer, or set on_decode_error: "
            "dead_letter to route them to the dead-letter queue."
        )

    def send(self, corrupt: DataFrame) -> None:
        """Hand Kafka's rows of undecodable values to the run's dead letters."""
        deadletter.send(
            corrupt,
            payload=F.col("value"),
            error=self.codec.reason(),
            stage="extract",
            dataset=f"kafka:{self.topics}",
        )

    # ---- a batch read --------------------------------------------------------------------
    def route_batch(self, corrupt: DataFrame, fail: bool) -> None:
        """A batch read: route the undecodable values, or (``fail``) halt naming the first ones.

        Raises:
            UndecodableRecordsError: with ``fail``, when there is any.
        """
        if not fail:
            self.send(corrupt)
            return
        found = corrupt.select("topic", "partition", "offset").limit(_REPORTED_CORRUPT).collect()
        if found:
            raise self.error(", ".join(f"{r.topic}/{r.partition}@{r.offset}" for r in found))

    # ---- a stream, within its sink's micro-batch -----------------------------------------
    def observe_stream(
        self,
        present: DataFrame,
        broken: Column,
        columns: list[Column],
        fallback: Callable[[], None],
    ) -> DataFrame:
        """The stream's good rows as ``_record``'s fields and ``columns``, noting where the
        undecodable values are as it decodes them (no second read of the topic); the query that
        writes the stream routes them after each micro-batch (:meth:`route_observed`), or
        ``fallback`` does (a side query: :meth:`side_query`).

        The flag is computed with the record's columns, in generated code; the observation,
        which Spark evaluates row by row, only tests it (measured: testing the record's fields
        there instead tripled the decoding stage's time)."""
        name = f"spark_etl_undecodable_{uuid.uuid4().hex}"
        flat = present.select("_record.*", *columns, broken.alias(_FLAG))
        where = F.struct(
            F.col("kafka_topic").alias("topic"),
            F.col("kafka_partition").alias("partition"),
            F.col("kafka_offset").alias("offset"),
        )
        observed = flat.observe(
            name, F.to_json(F.collect_set(F.when(F.col(_FLAG), where))).alias("undecodable")
        )
        after_each_batch(
            AfterBatch(
                name=name,
                owner=f"KafkaDataset '{self.topics}'",
                run=self.route_observed,
                fallback=fallback,
            )
        )
        return observed.filter(~F.col(_FLAG)).drop(_FLAG)

    def route_observed(self, observed: dict[str, Any], batch_id: int) -> None:
        """Send the undecodable values a micro-batch met to the dead letters: read back the
        offsets it noted (the span of each partition's, decoded again) and route those."""
        found = json.loads(observed.get("undecodable") or "[]")
        if not found:
            return
        spans: dict[str, dict[str, list[int]]] = {}
        for item in found:
            span = spans.setdefault(item["topic"], {}).setdefault(
                str(item["partition"]), [item["offset"], item["offset"]]
            )
            span[0], span[1] = min(span[0], item["offset"]), max(span[1], item["offset"])
        options = {**self.consumer, **_span_options(spans)}
        with self.translated_errors("read back undecodable values of"):
            decoded = self.codec.decoded(self.read_kafka(options), self.contract)
            self.send(decoded.filter(F.col("value").isNotNull()).filter(undecoded(self.contract)))
        logger.info(
            "Routed %d undecodable value(s) of micro-batch %d of Kafka '%s' to the dead letters",
            len(found),
            batch_id,
            self.topics,
        )

    # ---- a stream, by a side query -------------------------------------------------------
    def side_query(self, corrupt: DataFrame) -> StreamingQuery:
        """Start a side query that sends each micro-batch's undecodable values to dead letters
        (for a stream written by a query that cannot route them itself: it reads the topic
        again).

        Raises:
            DatasetConfigError: when the dataset has no streaming settings (a checkpoint).
        """
        settings = self.streaming
        if settings is None:
            raise DatasetConfigError(
                f"KafkaDataset '{self.topics}': its stream is written by a sink that cannot "
                "route undecodable values within each micro-batch (Spark's file sink, or a "
                "query outside spark-etl), so a side query routes them, which needs a "
                "checkpoint: add streaming: {checkpoint_location: ..., trigger: ...} to its "
                "catalog entry, or set on_decode_error: fail."
            )
        if is_real_time(trigger_args(settings.trigger)):
            raise DatasetConfigError(
                f"KafkaDataset '{self.topics}': the streaming settings of a stream source are "
                "those of the side query that routes its undecodable values, which writes each "
                "micro-batch (foreachBatch): trigger: real-time does not run it. Give it a "
                "micro-batch trigger (trigger: 30 seconds); the sink's trigger is its own."
            )
        letters = corrupt.select(F.col("value"), self.codec.reason().alias("_reason"))
        dataset = f"kafka:{self.topics}"

        def send(batch: DataFrame, batch_id: int) -> None:
            if batch.isEmpty():  # the usual case: no write, no empty commit in the queue
                return
            deadletter.send(
                batch,
                payload=F.col("value"),
                error=F.col("_reason"),
                stage="extract",
                dataset=dataset,
            )

        return (
            letters.writeStream.foreachBatch(send)
            .option("checkpointLocation", settings.checkpoint_location)
            .trigger(**trigger_args(settings.trigger))
            .start()
        )


def _span_options(spans: dict[str, dict[str, list[int]]]) -> dict[str, str]:
    """The reader's options that read each partition's span of offsets (``[first, last]``)."""
    return {
        "assign": json.dumps({t: sorted(int(p) for p in ps) for t, ps in spans.items()}),
        "startingOffsets": json.dumps(
            {t: {p: lo for p, (lo, _) in ps.items()} for t, ps in spans.items()}
        ),
        "endingOffsets": json.dumps(
            {t: {p: hi + 1 for p, (_, hi) in ps.items()} for t, ps in spans.items()}
        ),
    }
