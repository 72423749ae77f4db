"""``KafkaDataset``: Avro records on Kafka topics through spark-sql-kafka and spark-avro.

Reads take an offset range (earliest/latest, explicit offsets per partition, or timestamps) and
decode each value with the dataset's contract (``metadata.schema``) in the JVM (``from_avro``).
A value that cannot be decoded does not fail the read: it goes to the run's dead-letter queue
with its raw bytes, topic, partition and offset (``on_decode_error: fail`` halts instead).
A stream notes where its undecodable values are while it decodes them, and the spark-etl sink that
writes it routes them after each micro-batch, before Spark commits the batch: the topic is read
once. A stream written by Spark's file sink (S3) routes them with a side query, which reads the
topic a second time.
Writes encode the contract's fields as Avro values (``to_avro``), with a key.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, Literal

from pyspark.sql import Column, DataFrame, Observation, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery

from spark_etl._jvm import UNREACHABLE, java_error_chain, jvm_of
from spark_etl.contracts import Contract, conform, deadletter
from spark_etl.contracts.guards import guard
from spark_etl.datasets._kafka_codec import (
    EPOCH,
    EpochUnit,
    ValueCodec,
    ValueFormat,
    WireFormat,
    undecoded,
)
from spark_etl.datasets._kafka_dead_letters import UndecodableValues
from spark_etl.datasets._kafka_offsets import (
    end_offsets,
    incremental_range,
    matching,
    range_options,
    records_between,
)
from spark_etl.datasets._kafka_options import choice, offset_options, security_options
from spark_etl.datasets._real_time import is_real_time, refuse_unsupported, unsupported
from spark_etl.datasets._session_conf import session_settings
from spark_etl.datasets._streaming import claim, log_started, start_untagged, trigger_args
from spark_etl.datasets.base import EtlDataset, LoadMetrics, stringify_options
from spark_etl.datasets.exceptions import (
    AuthenticationError,
    DatasetConfigError,
    SourceUnavailableError,
)

SYSTEM_COLUMNS = (
    "kafka_key",
    "kafka_topic",
    "kafka_partition",
    "kafka_offset",
    "kafka_timestamp",
    "kafka_headers",
)
logger = logging.getLogger(__name__)

#: Kafka's client says "timed out" where others say they could not connect.
_UNREACHABLE = (*UNREACHABLE, "TimeoutException", "Timed out waiting")
_AUTH = ("SaslAuthenticationException", "AuthenticationException", "AuthorizationException")


class KafkaDataset(EtlDataset):
    """One or more Kafka topics whose values are Avro records of the dataset's contract.

    Example ``catalog.yml`` entries::

        raw_events:                          # read an offset range
          type: spark_etl.datasets.KafkaDataset
          bootstrap_servers: ${oc.env:SPARK_ETL_KAFKA_BOOTSTRAP}
          topic: user-events
          starting_offsets: earliest         # latest | {"user-events": {"0": 42}}
          ending_offsets: latest
          metadata: {schema: user_event}

        user_snapshots:                      # keyed records to a compacted topic
          type: spark_etl.datasets.KafkaDataset
          bootstrap_servers: ${oc.env:SPARK_ETL_KAFKA_BOOTSTRAP}
          topic: user-summary
          write_mode: upsert                 # the key is key_columns: a compacted topic keeps
          key_columns: [user_id]             # the latest record per key
          wire_format: confluent             # magic byte + 4-byte schema id before the Avro
          schema_id: 7
          metadata: {schema: user_summary}

    A load returns the contract's fields plus ``kafka_key`` (string), ``kafka_topic``,
    ``kafka_partition``, ``kafka_offset``, ``kafka_timestamp`` and ``kafka_headers``; contract
    checks ignore these. ``overwrite`` is refused: a topic is a log, not a table. Writes are
    at-least-once (Kafka's producer retries); ``upsert`` with a compacted topic makes a replay
    harmless.
    """

    SUPPORTED_WRITE_MODES: ClassVar[frozenset[str]] = frozenset({"append", "upsert"})
    DEFAULT_LOAD_ARGS: ClassVar[dict[str, Any]] = {
        # Fail in seconds, not minutes, when the broker is down (the runtime retries the run).
        "kafka.default.api.timeout.ms": "15000",
        "kafka.request.timeout.ms": "10000",
        "fetchOffset.numRetries": "1",
        # Records handed over per poll (Kafka's default: 500). Spark's reader polls until the
        # batch's offset range is read; 50,000 per poll read 3M small events in 0.55x the time
        # here. Memory stays bounded by the fetch sizes, which are unchanged.
        "kafka.max.poll.records": "50000",
    }
    DEFAULT_SAVE_ARGS: ClassVar[dict[str, Any]] = {
        "kafka.acks": "all",
        "kafka.enable.idempotence": "true",
        "kafka.delivery.timeout.ms": "30000",
        "kafka.request.timeout.ms": "10000",
        "kafka.max.block.ms": "15000",
    }
    system_columns: ClassVar[tuple[str, ...]] = SYSTEM_COLUMNS
    dead_letter_query: StreamingQuery | None = None

    def __init__(
        self,
        *,
        bootstrap_servers: str,
        topic: str | list[str] | None = None,
        topic_pattern: str | None = None,
        value_format: ValueFormat = "avro",
        wire_format: WireFormat = "plain",
        schema_id: int | None = None,
        json_options: dict[str, Any] | None = None,
        epoch_unit: EpochUnit | None = None,
        key_column: str | None = None,
        headers_column: str | None = None,
        starting_offsets: str | dict[str, Any] = "earliest",
        ending_offsets: str | dict[str, Any] = "latest",
        starting_timestamp: int | str | None = None,
        ending_timestamp: int | str | None = None,
        on_decode_error: Literal["dead_letter", "fail"] = "dead_letter",
        tombstones: Literal["skip", "dead_letter"] = "skip",
        stream: bool = False,
        incremental: bool = False,
        max_offsets_per_trigger: int | None = None,
        credentials: dict[str, Any] | None = None,
        write_mode: str = "append",
        key_columns: list[str] | None = None,
        load_args: dict[str, Any] | None = None,
        save_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        streaming: dict[str, Any] | None = None,
    ) -> None:
        """Configure the dataset; nothing is read or written until ``load``/``save``.

        Args:
            bootstrap_servers: ``host:port[,host:port]`` of the brokers.
            topic: the topic (or list of topics) to read, and the topic to write.
            topic_pattern: a Java regex of topics to read, instead of ``topic``.
            value_format: ``avro`` (default) or ``json``: how values hold the contract's record.
            wire_format: ``plain`` Avro binary, or ``confluent`` (magic byte and schema id first).
            schema_id: the Confluent schema id written, and the only one accepted on read.
            json_options: with ``value_format: json``, Spark's options of ``from_json`` and
                ``to_json`` (``timestampFormat``, ``dateFormat``, ``allowComments``...;
                ``mode`` is the dataset's: see ``on_decode_error``).
            epoch_unit: with ``value_format: json``, ``s``, ``ms`` or ``us``: the contract's
                timestamp fields hold numbers of this unit (text in them is still read as a
                timestamp, by ``timestampFormat``), and are written as such numbers. Without
                it Spark reads a number as seconds.
            key_column: column written as the key in ``append`` mode.
            headers_column: column of ``array<struct<key:string,value:binary>>`` written as headers.
            starting_offsets: ``earliest``, ``latest`` or ``{topic: {partition: offset}}``.
            ending_offsets: ``latest`` or ``{topic: {partition: offset}}`` (exclusive).
            starting_timestamp: read from the first offset at or after this time (epoch ms or
                ISO-8601); overrides ``starting_offsets``.
            ending_timestamp: read up to this time (epoch ms or ISO-8601).
            on_decode_error: ``dead_letter`` (default: undecodable values go to the run's
                dead-letter queue) or ``fail``.
            tombstones: records with a key and no value (a compacted topic's delete markers):
                ``skip`` (default: left out, and counted in the run's log) or ``dead_letter``
                (sent to the run's dead-letter queue with their key as payload).
            stream: load a streaming DataFrame (Structured Streaming) from ``starting_offsets``
                on, instead of a batch of the offset range.
            incremental: a batch reads from where the last successful run of the pipeline
                stopped (the offsets it committed to the run's state store, see
                docs/operations.md) to the end of each partition when the load starts;
                ``starting_offsets`` places partitions the state does not know yet.
            max_offsets_per_trigger: the most records one micro-batch reads (backpressure).
            credentials: for SASL: ``security_protocol``, ``sasl_mechanism``, ``username``,
                ``password``.
            write_mode: ``append`` (default) or ``upsert`` (keyed by ``key_columns``).
            key_columns: the key of ``upsert`` records (several are written as a JSON object).
            load_args: more options for Spark's Kafka reader (``kafka.*`` go to the consumer).
            save_args: more options for Spark's Kafka writer (``kafka.*`` go to the producer).
            metadata: ``schema`` names the contract of the values (required).
            streaming: how a streaming save runs (``trigger``, ``checkpoint_location``,
                ``output_mode``): see ``spark_etl.datasets._streaming``. With ``stream``, the
                settings of the side query that routes undecodable values when the stream's
                sink cannot route them within each micro-batch (Spark's file sink: S3).
        """
        super().__init__(
            write_mode=write_mode,
            key_columns=key_columns,
            load_args=load_args,
            save_args=save_args,
            metadata=metadata,
            streaming=streaming,
        )
        self._bootstrap = bootstrap_servers
        self._stream = stream
        self._max_offsets = max_offsets_per_trigger
        self._topics = [topic] if isinstance(topic, str) else list(topic or [])
        self._pattern = topic_pattern
        if bool(self._topics) == bool(self._pattern):
            raise DatasetConfigError(
                f"KafkaDataset at {bootstrap_servers}: give either 'topic' or 'topic_pattern'."
            )
        self._codec = ValueCodec(
            choice("value_format", value_format, ("avro", "json")),
            choice("wire_format", wire_format, ("plain", "confluent")),
            schema_id,
            json_options=self._json_options(value_format, json_options, epoch_unit),
            epoch_unit=None if epoch_unit is None else choice("epoch_unit", epoch_unit, EPOCH),
        )
        self._key_column = key_column
        self._headers_column = headers_column
        self._offsets = offset_options(
            starting_offsets, ending_offsets, starting_timestamp, ending_timestamp
        )
        self._on_decode_error = choice("on_decode_error", on_decode_error, ("dead_letter", "fail"))
        self._tombstones = choice("tombstones", tombstones, ("skip", "dead_letter"))
        self._credentials = dict(credentials or {})
        self._incremental = bool(incremental)
        self._starting = starting_offsets
        if self._incremental and (
            stream or ending_offsets != "latest" or starting_timestamp or ending_timestamp
        ):
            raise DatasetConfigError(
                f"KafkaDataset '{self._where}': incremental: true reads a batch from the "
                "committed offsets to the latest ones; it takes no stream: true (a stream keeps "
                "its offsets in its checkpoint), ending_offsets or timestamps."
            )
        if not (metadata or {}).get("schema"):
            raise DatasetConfigError(
                f"KafkaDataset '{self._where}': name the contract of the values in "
                "metadata.schema (for example metadata: {schema: user_event})."
            )

    def _json_options(
        self, value_format: str, options: dict[str, Any] | None, epoch_unit: str | None
    ) -> dict[str, str]:
        """The entry's ``json_options``, checked: for JSON values, and without ``mode``."""
        if (options or epoch_unit) and value_format != "json":
            raise DatasetConfigError(
                f"KafkaDataset '{self._where}': json_options and epoch_unit are for JSON "
                f"values; this entry's value_format is '{value_format}'. Remove them, or set "
                "value_format: json."
            )
        if "mode" in (options or {}):
            raise DatasetConfigError(
                f"KafkaDataset '{self._where}': json_options.mode is the dataset's own "
                "(PERMISSIVE, so that an undecodable value becomes a dead letter): remove it, "
                "and set on_decode_error: fail to stop at the first undecodable value instead."
            )
        return stringify_options(options or {})

    def _unsupported_mode_message(self, mode: str) -> str:
        return (
            f"KafkaDataset cannot '{mode}': a topic is an append-only log, not a table. Use "
            "'append', or 'upsert' with key_columns and a compacted topic (cleanup.policy="
            "compact), where the latest record per key wins."
        )

    @property
    def _where(self) -> str:
        return ",".join(self._topics) or f"pattern {self._pattern}"

    # ---- load ----------------------------------------------------------------------------
    def _read(self) -> DataFrame:
        """Read the offset range (or the stream) and decode the values; undecodable ones go to
        the dead-letter queue."""
        contract = self._require_contract()
        self._check_topics_exist()
        spark = self._spark()
        reader = spark.readStream if self._stream else spark.read
        options = self._source_options()
        if self._incremental and self._state is not None:
            options = self._incremental_options(options)
        with self._translated_errors("read"):
            raw = reader.format("kafka").options(**options).load()
        if not self._stream:
            # Counted by the first job that reads the batch (Kafka pushes no filter down, so
            # the counter costs the read nothing): records read, and the tombstones among them
            # (``skipped`` as well when they are skipped: the run's count reconciliation).
            observation = Observation(f"spark_etl_load_{uuid.uuid4().hex}")
            tombstones = F.sum(F.col("value").isNull().cast("long"))
            skipped = [tombstones.alias("skipped")] if self._tombstones == "skip" else []
            raw = raw.observe(
                observation,
                F.count(F.lit(1)).alias("records"),
                tombstones.alias("tombstones"),
                *skipped,
            )
            self.last_load = LoadMetrics(observation)
        if self._tombstones == "dead_letter":
            self._send_tombstones(raw.filter(F.col("value").isNull()))
        decoded = self._codec.decoded(raw, contract)
        broken = undecoded(contract)
        present = decoded.filter(F.col("value").isNotNull())
        undecodable = self._undecodable_values(contract)
        if not self._stream:
            undecodable.route_batch(present.filter(broken), fail=self._on_decode_error == "fail")
            good = present.filter(~broken)
        elif self._on_decode_error == "dead_letter":
            return self._routed_within_stream(present, broken, undecodable)
        else:  # fail: the stream's own job fails on its first undecodable value
            good = guard(
                present,
                f"undecodable value in Kafka '{self._where}'",
                [broken],
                undecodable.error,
                every_row=True,  # a later filter on a (null) field must not skip the check
                where=F.format_string("%s/%d@%d", "topic", "partition", "offset"),
            )
        return good.select("_record.*", *self._system_columns())

    def required_columns(self) -> list[str]:
        """The keys, the ``key_column`` and the ``headers_column`` a save writes."""
        named = [self._key_column, self._headers_column]
        return [*super().required_columns(), *(c for c in named if c)]

    @property
    def loads_stream(self) -> bool:
        """Whether ``load`` returns a stream (``stream: true``)."""
        return self._stream

    def stream_plan_problems(self, data: DataFrame) -> list[str]:
        """A sink in Real-Time Mode: the steps of ``data`` Real-Time Mode does not run (the
        query's own check, on the analyzed plan of data with no rows; joins are left to it)."""
        settings = self._streaming
        if not (settings and is_real_time(trigger_args(settings.trigger))):
            return []
        owner = f"KafkaDataset '{self._where}'"
        said = unsupported(data, owner, settings.output_mode, optimized=False)
        return [said] if said else []

    def empty_load(self) -> DataFrame:
        """What ``load`` returns, with no rows, built from the contract: no broker is asked and
        no dead letter is routed (for ``stream: true``, an unstarted stream: it has no rows
        until a query runs)."""
        contract = self._require_contract()
        spark = self._spark()
        # a stream's steps are planned as in the run (a transform may plan a stream otherwise:
        # dedup within a watermark, not a window); a stream is not read until a query starts
        raw = (
            spark.readStream.format("kafka").options(**self._source_options()).load()
            if self._stream
            else spark.createDataFrame([], _KAFKA_RECORD)
        )
        decoded = self._codec.decoded(raw, contract)
        return decoded.select("_record.*", *self._system_columns())

    def _send_tombstones(self, tombstones: DataFrame) -> None:
        deadletter.send(
            tombstones,
            payload=F.coalesce(F.col("key"), F.lit(b"")),
            error="tombstone: a record with a key and no value (a delete marker)",
            stage="extract",
            dataset=self.rejects_as(),
        )

    def _undecodable_values(self, contract: Contract) -> UndecodableValues:
        """What the routings of undecodable values need from this dataset."""
        return UndecodableValues(
            codec=self._codec,
            contract=contract,
            schema=(self.metadata or {})["schema"],
            topics=self._where,
            consumer=self._consumer_options(),
            read_kafka=self._read_kafka,
            translated_errors=self._translated_errors,
            streaming=self._streaming,
        )

    def _routed_within_stream(
        self, present: DataFrame, broken: Column, undecodable: UndecodableValues
    ) -> DataFrame:
        """The stream, its undecodable values routed within each micro-batch of the query that
        writes it, or by a side query (kept in :attr:`dead_letter_query`) for one that cannot."""

        def side_query() -> None:
            self.dead_letter_query = undecodable.side_query(present.filter(broken))

        return undecodable.observe_stream(
            present, broken, self._system_columns(), fallback=side_query
        )

    def _consumer_options(self) -> dict[str, str]:
        """The options of any batch read of the brokers: the consumer's own (``kafka.*`` of
        ``load_args``), SASL, the bootstrap servers."""
        consumer = stringify_options(self._load_args)
        return {
            **{k: v for k, v in consumer.items() if k.startswith("kafka.")},
            **security_options(self._credentials),
            "kafka.bootstrap.servers": self._bootstrap,
        }

    def _read_kafka(self, options: dict[str, str]) -> DataFrame:
        return self._spark().read.format("kafka").options(**options).load()

    def _source_options(self) -> dict[str, str]:
        options = {
            **stringify_options(self._load_args),
            **security_options(self._credentials),
            **self._offsets,
            "kafka.bootstrap.servers": self._bootstrap,
            "includeHeaders": "true",
        }
        if self._stream:
            options.pop("endingOffsets", None)
            options.pop("endingTimestamp", None)
            options.setdefault("failOnDataLoss", "true")
            if self._max_offsets is not None:
                options["maxOffsetsPerTrigger"] = str(self._max_offsets)
        if self._pattern:
            options["subscribePattern"] = self._pattern
        else:
            options["subscribe"] = ",".join(self._topics)
        return options

    @staticmethod
    def _system_columns() -> list[Column]:
        return [
            F.col("key").cast("string").alias("kafka_key"),
            F.col("topic").alias("kafka_topic"),
            F.col("partition").alias("kafka_partition"),
            F.col("offset").alias("kafka_offset"),
            F.col("timestamp").alias("kafka_timestamp"),
            F.col("headers").alias("kafka_headers"),
        ]

    # ---- save ----------------------------------------------------------------------------
    def save(self, data: DataFrame) -> None:
        """Write ``data`` (see :meth:`EtlDataset.save`); a stream whose ``streaming.trigger``
        is ``real-time`` runs in Spark's Real-Time Mode (see ``spark_etl.datasets._real_time``)."""
        settings = self._streaming
        if not (data.isStreaming and settings and is_real_time(trigger_args(settings.trigger))):
            super().save(data)
            return
        data = self._checked(data, "save")
        owner = f"KafkaDataset '{self._where}'"
        refuse_unsupported(data, owner, settings.output_mode)
        for work in claim(data):  # no micro-batch of spark-etl's runs in Real-Time Mode
            work.fallback()
        writer = (
            self._records(data)
            .writeStream.format("kafka")
            .options(**self._writer_options())
            .option("checkpointLocation", settings.checkpoint_location)
            .outputMode("update")  # the only mode Real-Time Mode has: each record once
            .trigger(**trigger_args(settings.trigger))
        )
        if settings.query_name:
            writer = writer.queryName(settings.query_name)
        with self._translated_errors("stream to"):
            self.query = start_untagged(writer, data.sparkSession)
        log_started(self.query, settings, owner)

    def _save_batch(self, data: DataFrame) -> None:
        writer = self._records(data).write.format("kafka").options(**self._writer_options())
        with self._translated_errors("write"), _v2_kafka_writes(data.sparkSession):
            writer.mode("append").save()

    def _records(self, data: DataFrame) -> DataFrame:
        """Kafka's records of ``data``: the contract's Avro (or JSON) value, the key, the
        headers."""
        contract = self._require_contract()
        if len(self._topics) != 1:
            raise DatasetConfigError(
                f"KafkaDataset '{self._where}': a write needs exactly one 'topic'."
            )
        value = self._codec.encode(conform(data, contract), contract, self._where)
        columns = [value.alias("value")]
        key = self._key()
        if key is not None:
            columns.insert(0, key.alias("key"))
        if self._headers_column:
            columns.append(F.col(self._headers_column).alias("headers"))
        return data.select(*columns)

    def _writer_options(self) -> dict[str, str]:
        return {
            **stringify_options(self._save_args),
            **security_options(self._credentials),
            "kafka.bootstrap.servers": self._bootstrap,
            "topic": self._topics[0],
        }

    def _key(self) -> Column | None:
        if self._write_mode == "upsert":
            keys = self._key_columns
            if len(keys) == 1:
                return F.col(keys[0]).cast("string")
            return F.to_json(F.struct(*keys))
        return F.col(self._key_column).cast("string") if self._key_column else None

    # ---- shared --------------------------------------------------------------------------
    def _require_contract(self) -> Contract:
        contract = self._contract()
        assert contract is not None  # the constructor requires metadata.schema
        return contract

    @property
    def incremental(self) -> bool:
        """Whether a batch load resumes from the offsets the last successful run committed."""
        return self._incremental

    def _incremental_options(self, options: dict[str, str]) -> dict[str, str]:
        """Read from the committed offsets to the end of each partition now, and hold that
        end in the state slot (committed once the data is written)."""
        assert self._state is not None
        end = self._end_offsets()
        start, end = incremental_range(self._state.committed(), end, self._starting)
        self._state.hold(end)
        spans = records_between(start, end)
        logger.info(
            "KafkaDataset '%s': reading offsets %s to %s%s",
            self._where,
            json.dumps(start),
            json.dumps(end),
            "" if spans is None else f" ({spans} offset(s))",
            extra={"event": "incremental_range", "start": start, "end": end},
        )
        for key in (
            "subscribe",
            "subscribePattern",
            "startingOffsets",
            "endingOffsets",
            "startingTimestamp",
            "endingTimestamp",
        ):
            options.pop(key, None)
        return {**options, **range_options(start, end)}

    def _end_offsets(self) -> dict[str, dict[str, int]]:
        topics = self._topics or matching(str(self._pattern), self._list_topics())
        with self._admin("read the offsets of") as (admin, jvm, seconds):
            return end_offsets(admin, jvm, topics, seconds)

    def _check_topics_exist(self) -> None:
        if self._pattern:
            return
        missing = sorted(set(self._topics) - self._list_topics())
        if missing:
            raise DatasetConfigError(
                f"KafkaDataset: topic(s) {missing} do not exist on {self._bootstrap}. Create "
                "them, or fix 'topic' in the catalog."
            )

    @contextmanager
    def _admin(self, action: str) -> Iterator[tuple[Any, Any, int]]:
        """Kafka's admin client on the driver's JVM, with the JVM and the API timeout (s)."""
        jvm = jvm_of(self._spark())
        props = jvm.java.util.Properties()
        props.put("bootstrap.servers", self._bootstrap)
        props.put("default.api.timeout.ms", str(self._load_args["kafka.default.api.timeout.ms"]))
        props.put("request.timeout.ms", str(self._load_args["kafka.request.timeout.ms"]))
        for key, value in security_options(self._credentials).items():
            props.put(key.removeprefix("kafka."), value)
        with self._translated_errors(action):
            admin = jvm.org.apache.kafka.clients.admin.Admin.create(props)
            try:
                yield admin, jvm, int(self._load_args["kafka.default.api.timeout.ms"]) // 1000
            finally:
                admin.close()

    def _list_topics(self) -> set[str]:
        with self._admin("list topics of") as (admin, jvm, seconds):
            names = (
                admin.listTopics().names().get(seconds, jvm.java.util.concurrent.TimeUnit.SECONDS)
            )
            return {str(n) for n in names}

    def _exists(self) -> bool:
        if self._pattern:
            return True
        return set(self._topics) <= self._list_topics()

    def system(self) -> str:
        """``kafka://`` and the brokers (sorted): the cluster its writes reach."""
        brokers = sorted(b.strip() for b in self._bootstrap.split(",") if b.strip())
        return "kafka://" + ",".join(brokers)

    def target_label(self) -> str:
        """The topic(s), or the topic pattern."""
        return self._pattern or ",".join(self._topics)

    def rejects_as(self) -> str:
        """``kafka:<topics>``: what its dead letters name as their dataset."""
        return f"kafka:{self._where}"

    def _describe(self) -> dict[str, Any]:
        return {
            "bootstrap_servers": self._bootstrap,
            "topics": self._topics,
            "topic_pattern": self._pattern,
            "value_format": self._codec.value_format,
            "wire_format": self._codec.wire,
            "epoch_unit": self._codec.epoch_unit,
            "offsets": self._offsets,
            "incremental": self._incremental,
            **super()._describe(),
        }

    def _translate(self, exc: Exception, action: str) -> Exception | None:
        chain = " | ".join(java_error_chain(exc))
        if any(name in chain for name in _AUTH):
            return AuthenticationError(
                f"Kafka at {self._bootstrap} refused the credentials to {action} topic(s) "
                f"'{self._where}': check the SASL username/password and the topic ACLs."
            )
        if any(name in chain for name in _UNREACHABLE):
            return SourceUnavailableError(
                f"Kafka at {self._bootstrap} is not reachable to {action} topic(s) "
                f"'{self._where}': is the broker up and bootstrap_servers right? (locally: "
                "`make services`)"
            )
        return None


_V1_SOURCES = "spark.sql.sources.useV1SourceList"
#: The columns of Spark's Kafka source (with ``includeHeaders``).
_KAFKA_RECORD = (
    "key binary, value binary, topic string, partition int, offset long, timestamp timestamp, "
    "timestampType int, headers array<struct<key:string,value:binary>>"
)


@contextmanager
def _v2_kafka_writes(spark: SparkSession) -> Iterator[None]:
    """Write through Kafka's DataSource V2 path while the block runs.

    Spark's V1 write (the default for ``kafka``) runs the query as a command of its own, so an
    ``Observation`` of the written rows never reports; the V2 path (the same producer code)
    keeps the query in the plan, and the rows written are counted while they are written.
    """
    before = spark.conf.get(_V1_SOURCES)
    sources = [s for s in (before or "").split(",") if s.strip() and s.strip() != "kafka"]
    with session_settings(spark, {_V1_SOURCES: ",".join(sources)}):
        yield
