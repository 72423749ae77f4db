"""KafkaDataset against the real local KRaft broker: Avro values, offsets, keys, dead letters."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from databases import Database
from kedro.io import DatasetError
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from spark_etl.contracts import deadletter, default_registry, validate
from spark_etl.contracts.guards import explanation
from spark_etl.datasets import JDBCDataset, KafkaDataset
from spark_etl.datasets._streaming import start_unclaimed
from spark_etl.datasets.exceptions import (
    DatasetConfigError,
    SourceUnavailableError,
    UndecodableRecordsError,
)

pytestmark = pytest.mark.integration

EVENT = {"schema": "user_event"}
T0 = datetime(2026, 1, 1, 12, 0)


@pytest.fixture
def bootstrap(services: dict[str, str]) -> str:
    return services["SPARK_ETL_KAFKA_BOOTSTRAP"]


def events(spark: SparkSession, n: int, start: int = 0) -> DataFrame:
    contract = default_registry().get("user_event")
    rows = [
        (
            f"e{i}",
            f"u{i % 3}",
            "click" if i % 2 else "purchase",
            T0,
            {"i": str(i)},
            float(i) if i % 2 == 0 else None,
        )
        for i in range(start, start + n)
    ]
    return spark.createDataFrame(rows, contract.spark_schema)


def dataset(bootstrap: str, topic: str, **kwargs: Any) -> KafkaDataset:
    return KafkaDataset(bootstrap_servers=bootstrap, topic=topic, metadata=EVENT, **kwargs)


def write_raw(spark: SparkSession, bootstrap: str, topic: str, values: list[bytes]) -> None:
    (
        spark.createDataFrame([(v,) for v in values], "value binary")
        .coalesce(1)  # one producer task: the values land in this order
        .write.format("kafka")
        .option("kafka.bootstrap.servers", bootstrap)
        .option("topic", topic)
        .save()
    )


def fields(df: DataFrame) -> list[tuple[Any, ...]]:
    cols = default_registry().get("user_event").spark_schema.fieldNames()
    return sorted(tuple(r) for r in df.select(*cols).collect())


def test_avro_round_trip_with_keys_and_offsets(
    spark: SparkSession, bootstrap: str, unique_name: str
) -> None:
    ds = dataset(bootstrap, unique_name, key_column="event_id")
    ds.save(events(spark, 20))
    assert ds.last_save is not None and ds.last_save.records == 20  # counted while written
    ds.save(events(spark, 0))
    assert ds.last_save.records == 0
    back = ds.load()
    assert fields(back) == fields(events(spark, 20))
    meta = back.select("kafka_key", "kafka_topic", "kafka_partition", "kafka_offset").collect()
    assert sorted(r.kafka_offset for r in meta) == list(range(20))
    assert {r.kafka_topic for r in meta} == {unique_name}
    assert sorted(r.kafka_key for r in meta) == sorted(f"e{i}" for i in range(20))
    # the contract check looks past the Kafka metadata columns
    validate(
        back, default_registry().get("user_event"), "events", ignore=KafkaDataset.system_columns
    )
    assert ds.exists()


def test_explicit_offset_range(spark: SparkSession, bootstrap: str, unique_name: str) -> None:
    dataset(bootstrap, unique_name).save(events(spark, 10))
    ranged = dataset(
        bootstrap,
        unique_name,
        starting_offsets={unique_name: {"0": 2}},
        ending_offsets={unique_name: {"0": 5}},
    )
    assert sorted(r.kafka_offset for r in ranged.load().collect()) == [2, 3, 4]


def test_timestamp_range(spark: SparkSession, bootstrap: str, unique_name: str) -> None:
    dataset(bootstrap, unique_name).save(events(spark, 3))
    time.sleep(1.5)
    cut = int(time.time() * 1000)
    time.sleep(0.5)
    dataset(bootstrap, unique_name).save(events(spark, 4, start=100))
    later = dataset(bootstrap, unique_name, starting_timestamp=cut)
    assert sorted(r.event_id for r in later.load().collect()) == [f"e{i}" for i in range(100, 104)]
    iso = datetime.fromtimestamp(cut / 1000).isoformat()
    earlier = dataset(bootstrap, unique_name, ending_timestamp=iso)
    assert sorted(r.event_id for r in earlier.load().collect()) == ["e0", "e1", "e2"]


def test_corrupt_values_go_to_dead_letters_not_crash(
    spark: SparkSession, bootstrap: str, unique_name: str
) -> None:
    ds = dataset(bootstrap, unique_name)
    ds.save(events(spark, 5))
    write_raw(spark, bootstrap, unique_name, [b"garbage", b"\x02"])
    ds.save(events(spark, 2, start=50))
    letters: list[DataFrame] = []
    deadletter.install(letters.append, pipeline="p", run_id="r")
    try:
        loaded = ds.load()
        assert sorted(r.event_id for r in loaded.collect()) == [
            "e0",
            "e1",
            "e2",
            "e3",
            "e4",
            "e50",
            "e51",
        ]
    finally:
        deadletter.uninstall()
    (dead,) = letters
    rows = dead.collect()
    errors = {bytes(r.payload): r.error for r in rows}
    assert set(errors) == {b"garbage", b"\x02"}  # the raw bytes, kept
    prefix = f"undecodable avro value (plain wire format) at topic {unique_name} partition 0 "
    assert sorted(errors.values()) == [prefix + "offset 5", prefix + "offset 6"]
    assert {(r.stage, r.dataset, r.pipeline) for r in rows} == {
        ("extract", f"kafka:{unique_name}", "p")
    }
    validate(dead, default_registry().get("dead_letter"), "dead letters")


def test_tombstones_are_counted_and_skipped_or_dead_lettered(
    spark: SparkSession, bootstrap: str, unique_name: str
) -> None:
    ds = dataset(bootstrap, unique_name)
    ds.save(events(spark, 3))
    (
        spark.createDataFrame([(b"gone-1", None), (b"gone-2", None)], "key binary, value binary")
        .write.format("kafka")
        .option("kafka.bootstrap.servers", bootstrap)
        .option("topic", unique_name)
        .save()
    )
    loaded = ds.load()
    assert sorted(r.event_id for r in loaded.collect()) == ["e0", "e1", "e2"]
    # counted by the first job over the read (here the check for undecodable values)
    assert ds.last_load is not None
    assert ds.last_load.counts() == {"records": 5, "tombstones": 2, "skipped": 2}

    letters: list[DataFrame] = []
    deadletter.install(letters.append, pipeline="p", run_id="r")
    try:
        routed = dataset(bootstrap, unique_name, tombstones="dead_letter")
        assert routed.load().count() == 3
    finally:
        deadletter.uninstall()
    rows = [r for sent in letters for r in sent.collect()]  # tombstones, then undecodables
    assert sorted(bytes(r.payload) for r in rows) == [b"gone-1", b"gone-2"]
    assert {r.error for r in rows} == {
        "tombstone: a record with a key and no value (a delete marker)"
    }
    validate(letters[0], default_registry().get("dead_letter"), "dead letters")
    with pytest.raises(DatasetConfigError, match="tombstones"):
        dataset(bootstrap, unique_name, tombstones="keep")


def test_corrupt_values_can_halt_instead(
    spark: SparkSession, bootstrap: str, unique_name: str
) -> None:
    dataset(bootstrap, unique_name).save(events(spark, 2))
    write_raw(spark, bootstrap, unique_name, [b"garbage"])
    strict = dataset(bootstrap, unique_name, on_decode_error="fail")
    with pytest.raises(DatasetError) as info:
        strict.load()
    assert isinstance(info.value.__cause__, UndecodableRecordsError)
    assert (
        f"values at {unique_name}/0@2 cannot be decoded as avro records of contract "
        "'user_event'" in str(info.value)
    )


def test_a_stream_halts_on_its_first_undecodable_value_without_a_side_query(
    spark: SparkSession, bootstrap: str, unique_name: str, tmp_path: Path
) -> None:
    dataset(bootstrap, unique_name).save(events(spark, 2))
    write_raw(spark, bootstrap, unique_name, [b"garbage"])
    strict = dataset(bootstrap, unique_name, on_decode_error="fail", stream=True)
    # a filter on a field (null in the undecodable record) must not hide it from the check
    query = (
        strict.load()
        .filter("event_type <> 'never'")
        .writeStream.format("noop")
        .trigger(availableNow=True)
        .option("checkpointLocation", str(tmp_path / "checkpoint"))
        .start()
    )
    with pytest.raises(Exception) as info:
        query.awaitTermination(120)
    explained = explanation(info.value)
    assert isinstance(explained, UndecodableRecordsError)
    assert f"values at {unique_name}/0@2 cannot be decoded as avro records" in str(explained)
    assert strict.dead_letter_query is None  # no second read of the stream


def routed_to(letters: list[tuple[bytes, str]]) -> Any:
    """A dead-letter sink that keeps (payload, error) of what it is given."""

    def sink(frame: DataFrame) -> None:
        letters.extend((bytes(r.payload), r.error) for r in frame.collect())

    return sink


def test_a_stream_routes_undecodable_values_within_each_micro_batch_reading_the_topic_once(
    spark: SparkSession, bootstrap: str, unique_name: str, tmp_path: Path, db: Database
) -> None:
    """The JDBC sink's query routes them once the batch is staged, before the sink commits: no
    side query reads the topic a second time, and a routing that fails leaves the table as it
    was and fails the batch, which is replayed from the checkpoint: nothing lost, nothing twice
    (even with append)."""
    dataset(bootstrap, unique_name).save(events(spark, 3))
    write_raw(spark, bootstrap, unique_name, [b"garbage", b"\x02"])  # offsets 3 and 4
    dataset(bootstrap, unique_name).save(events(spark, 2, start=3))
    sink_settings = {"checkpoint_location": str(tmp_path / "sink"), "trigger": "available-now"}

    def run(dead_letter_sink: Any) -> KafkaDataset:
        source = dataset(bootstrap, unique_name, stream=True)  # no settings: no side query
        sink = JDBCDataset(
            url=db.url,
            table=unique_name,
            credentials=db.credentials,
            write_mode="append",
            streaming=sink_settings,
        )
        deadletter.install(dead_letter_sink, pipeline="p", run_id="r")
        try:
            sink.save(source.load().select("event_id", "kafka_offset"))
            assert sink.query is not None
            sink.query.awaitTermination(120)
        finally:
            deadletter.uninstall()
        assert source.dead_letter_query is None
        return source

    def store_down(frame: DataFrame) -> None:
        raise RuntimeError("dead-letter store down")

    with pytest.raises(Exception, match="dead-letter store down"):
        run(store_down)
    assert db.run(f"SELECT count(*) FROM {unique_name}") == [(0,)]  # staged, never committed
    letters: list[tuple[bytes, str]] = []
    run(routed_to(letters))  # the same checkpoint: the failed batch again

    where = f"undecodable avro value (plain wire format) at topic {unique_name} partition 0"
    assert sorted(letters) == [(b"\x02", f"{where} offset 4"), (b"garbage", f"{where} offset 3")]
    written = db.run(f"SELECT event_id, kafka_offset FROM {unique_name}")
    assert sorted(event for event, _ in written) == ["e0", "e1", "e2", "e3", "e4"]
    assert sorted(offset for _, offset in written) == [0, 1, 2, 5, 6]


def test_a_stream_written_outside_spark_etl_routes_them_with_a_side_query(
    spark: SparkSession, bootstrap: str, unique_name: str, tmp_path: Path
) -> None:
    dataset(bootstrap, unique_name).save(events(spark, 2))
    write_raw(spark, bootstrap, unique_name, [b"garbage"])
    source = dataset(
        bootstrap,
        unique_name,
        stream=True,
        streaming={"checkpoint_location": str(tmp_path / "dead"), "trigger": "available-now"},
    )
    letters: list[tuple[bytes, str]] = []
    deadletter.install(routed_to(letters), pipeline="p", run_id="r")
    try:
        query = (
            source.load()
            .writeStream.format("memory")
            .queryName(f"plain_{unique_name}")
            .trigger(availableNow=True)
            .option("checkpointLocation", str(tmp_path / "checkpoint"))
            .start()
        )
        start_unclaimed(spark)  # what the runner does once the pipeline's queries started
        query.awaitTermination(120)
        assert source.dead_letter_query is not None
        source.dead_letter_query.awaitTermination(120)
    finally:
        deadletter.uninstall()
    assert [payload for payload, _ in letters] == [b"garbage"]
    assert spark.table(f"plain_{unique_name}").count() == 2


def test_a_side_query_without_streaming_settings_says_what_to_add(
    spark: SparkSession, bootstrap: str, unique_name: str, tmp_path: Path
) -> None:
    dataset(bootstrap, unique_name).save(events(spark, 1))
    source = dataset(bootstrap, unique_name, stream=True)
    query = (
        source.load()
        .writeStream.format("noop")
        .option("checkpointLocation", str(tmp_path / "checkpoint"))
        .start()
    )
    try:
        with pytest.raises(DatasetConfigError, match=r"add streaming: \{checkpoint_location"):
            start_unclaimed(spark)
    finally:
        query.stop()


def decoders(plan: Any) -> int:
    """How many times a physical plan decodes each value."""
    return str(plan.toString()).count("from_avro(")


@pytest.mark.parametrize("on_decode_error", ["dead_letter", "fail"])
def test_each_value_is_decoded_once(
    spark: SparkSession, bootstrap: str, unique_name: str, tmp_path: Path, on_decode_error: str
) -> None:
    """The checks on the decoded record (undecodable or not) and a pipeline's filters are not
    pushed beneath the decoding, where each would decode the value again (a stream's decoding
    stage took twice as long)."""
    dataset(bootstrap, unique_name).save(events(spark, 6))
    letters: list[DataFrame] = []
    deadletter.install(letters.append, pipeline="p", run_id="r")
    try:
        batch = dataset(bootstrap, unique_name, on_decode_error=on_decode_error).load()
        clicks = batch.filter("event_type = 'click'").select("event_id")
        assert sorted(r.event_id for r in clicks.collect()) == ["e1", "e3", "e5"]
        assert decoders(clicks._jdf.queryExecution().executedPlan()) == 1

        stream = dataset(
            bootstrap,
            unique_name,
            on_decode_error=on_decode_error,
            stream=True,
            streaming={"checkpoint_location": str(tmp_path / "dead"), "trigger": "available-now"},
        )
        query = (
            stream.load()
            .filter("event_type = 'click'")
            .writeStream.format("memory")
            .queryName(f"clicks_{on_decode_error}")
            .trigger(availableNow=True)
            .option("checkpointLocation", str(tmp_path / "checkpoint"))
            .start()
        )
        query.awaitTermination(120)
        if stream.dead_letter_query is not None:
            stream.dead_letter_query.awaitTermination(120)
    finally:
        deadletter.uninstall()
    assert spark.table(f"clicks_{on_decode_error}").count() == 3
    assert decoders(query._jsq.streamingQuery().lastExecution().executedPlan()) == 1


def test_confluent_wire_format(spark: SparkSession, bootstrap: str, unique_name: str) -> None:
    ds = dataset(bootstrap, unique_name, wire_format="confluent", schema_id=7)
    ds.save(events(spark, 4))
    assert fields(ds.load()) == fields(events(spark, 4))
    raw = (
        spark.read.format("kafka")
        .option("kafka.bootstrap.servers", bootstrap)
        .option("subscribe", unique_name)
        .load()
        .first()
    )
    assert raw is not None and bytes(raw.value[:5]) == b"\x00\x00\x00\x00\x07"

    other_id = dataset(
        bootstrap, unique_name, wire_format="confluent", schema_id=8, on_decode_error="fail"
    )
    with pytest.raises(DatasetError, match="confluent wire format"):
        other_id.load()
    with pytest.raises(DatasetError, match="needs schema_id"):
        dataset(bootstrap, unique_name, wire_format="confluent").save(events(spark, 1))


def test_json_values(spark: SparkSession, bootstrap: str, unique_name: str) -> None:
    ds = dataset(bootstrap, unique_name, value_format="json")
    ds.save(events(spark, 3))
    assert fields(ds.load()) == fields(events(spark, 3))


def json_event(event_id: str, timestamp: Any) -> bytes:
    """A user_event value as JSON, its ``timestamp`` as given (a number, or text)."""
    return json.dumps(
        {"event_id": event_id, "user_id": "u1", "event_type": "click", "timestamp": timestamp}
    ).encode()


def epoch_ms(df: DataFrame) -> dict[str, int]:
    """Each event's time as epoch milliseconds (independent of the session's time zone)."""
    rows = df.select("event_id", F.unix_millis("timestamp").alias("ms")).collect()
    return {r.event_id: r.ms for r in rows}


def test_json_timestamps_as_epoch_milliseconds_seconds_or_text(
    spark: SparkSession, bootstrap: str, unique_name: str
) -> None:
    write_raw(
        spark,
        bootstrap,
        unique_name,
        [
            json_event("ms", 1767268800123),
            json_event("iso", "2026-01-01T12:00:00Z"),
            json_event("offset", "2026-01-01T12:00:00.250+01:00"),
        ],
    )
    read = dataset(bootstrap, unique_name, value_format="json", epoch_unit="ms").load()
    assert epoch_ms(read) == {
        "ms": 1767268800123,
        "iso": 1767268800000,
        "offset": 1767265200250,
    }
    # Spark's own reading, without an epoch unit: a whole number is seconds, a fraction is
    # not a time (the event is undecodable); with epoch_unit: s both are seconds
    seconds = f"{unique_name}-s"
    write_raw(spark, bootstrap, seconds, [json_event("s", 1767268800), json_event("f", 1.5)])
    assert epoch_ms(dataset(bootstrap, seconds, value_format="json").load()) == {"s": 1767268800000}
    assert epoch_ms(dataset(bootstrap, seconds, value_format="json", epoch_unit="s").load()) == {
        "s": 1767268800000,
        "f": 1500,
    }


def test_json_options_reach_the_parser_and_a_bad_time_is_undecodable(
    spark: SparkSession, bootstrap: str, unique_name: str
) -> None:
    write_raw(
        spark,
        bootstrap,
        unique_name,
        [json_event("text", "01/01/2026 12:00"), json_event("ms", 1767268800000)],
    )
    options = {"timestampFormat": "dd/MM/yyyy HH:mm"}
    ds = dataset(bootstrap, unique_name, value_format="json", epoch_unit="ms", json_options=options)
    # the text is read in the session's time zone, as Spark reads a timestamp without a zone
    local = spark.sql("SELECT unix_millis(TIMESTAMP'2026-01-01 12:00:00')").first()[0]
    assert epoch_ms(ds.load()) == {"text": local, "ms": 1767268800000}
    write_raw(spark, bootstrap, unique_name, [json_event("late", "yesterday")])
    strict = dataset(
        bootstrap,
        unique_name,
        value_format="json",
        epoch_unit="ms",
        json_options=options,
        on_decode_error="fail",
    )
    with pytest.raises(DatasetError) as info:
        strict.load()
    assert isinstance(info.value.__cause__, UndecodableRecordsError)
    assert f"values at {unique_name}/0@2 cannot be decoded as json records" in str(info.value)


def test_json_timestamps_are_written_in_the_epoch_unit(
    spark: SparkSession, bootstrap: str, unique_name: str
) -> None:
    ds = dataset(bootstrap, unique_name, value_format="json", epoch_unit="ms")
    ds.save(events(spark, 2))
    raw = (
        spark.read.format("kafka")
        .option("kafka.bootstrap.servers", bootstrap)
        .option("subscribe", unique_name)
        .load()
        .collect()
    )
    sent = spark.sql(f"SELECT unix_millis(TIMESTAMP'{T0:%Y-%m-%d %H:%M:%S}')").first()[0]
    assert sorted(json.loads(bytes(r.value))["timestamp"] for r in raw) == [sent, sent]
    assert epoch_ms(ds.load()) == {"e0": sent, "e1": sent}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"epoch_unit": "ms"}, "json_options and epoch_unit are for JSON values"),
        ({"value_format": "json", "epoch_unit": "ns"}, "unknown epoch_unit 'ns'"),
        (
            {"value_format": "json", "json_options": {"mode": "FAILFAST"}},
            "json_options.mode is the dataset's own",
        ),
    ],
)
def test_json_settings_are_checked(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(DatasetConfigError, match=message):
        KafkaDataset(bootstrap_servers="b:9092", topic="t", metadata=EVENT, **settings)


def test_upsert_keys_and_headers(spark: SparkSession, bootstrap: str, unique_name: str) -> None:
    single = dataset(
        bootstrap, unique_name, write_mode="upsert", key_columns=["user_id"], headers_column="hdrs"
    )
    data = events(spark, 3).withColumn(
        "hdrs",
        F.array(
            F.struct(F.lit("source").alias("key"), F.lit("test").cast("binary").alias("value"))
        ),
    )
    single.save(data)
    back = single.load().collect()
    assert sorted(r.kafka_key for r in back) == ["u0", "u1", "u2"]
    assert {(h.key, bytes(h.value)) for r in back for h in r.kafka_headers} == {("source", b"test")}

    pair = dataset(
        bootstrap, unique_name + "_pair", write_mode="upsert", key_columns=["user_id", "event_type"]
    )
    pair.save(events(spark, 1))
    assert pair.load().first().kafka_key == '{"user_id":"u0","event_type":"purchase"}'


def test_missing_topic_is_named(spark: SparkSession, bootstrap: str, unique_name: str) -> None:
    ds = dataset(bootstrap, unique_name + "_absent")
    with pytest.raises(DatasetError, match=rf"topic\(s\) \['{unique_name}_absent'\] do not exist"):
        ds.load()
    assert not ds.exists()


def test_broker_down_is_transient_and_named(spark: SparkSession) -> None:
    ds = KafkaDataset(
        bootstrap_servers="127.0.0.1:1",
        topic="t",
        metadata=EVENT,
        load_args={"kafka.default.api.timeout.ms": 3000, "kafka.request.timeout.ms": 2000},
    )
    with pytest.raises(DatasetError, match=r"Kafka at 127\.0\.0\.1:1 is not reachable") as info:
        ds.load()
    assert isinstance(info.value.__cause__, SourceUnavailableError)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"topic": "t", "write_mode": "overwrite"}, "KafkaDataset cannot 'overwrite': a topic is"),
        ({"topic": "t", "metadata": {}}, "name the contract of the values in metadata.schema"),
        ({"metadata": EVENT}, "give either 'topic' or 'topic_pattern'"),
        ({"topic": "t", "topic_pattern": "x.*", "metadata": EVENT}, "either 'topic' or"),
        ({"topic": "t", "value_format": "xml", "metadata": EVENT}, "unknown value_format 'xml'"),
        (
            {"topic": "t", "starting_timestamp": "yesterday", "metadata": EVENT},
            "timestamp 'yesterday' is neither",
        ),
        ({"topic": "t", "write_mode": "upsert", "metadata": EVENT}, "upsert' needs key_columns"),
    ],
)
def test_config_errors(kwargs: dict[str, Any], message: str) -> None:
    kwargs.setdefault("metadata", EVENT)
    with pytest.raises(DatasetConfigError, match=message):
        KafkaDataset(bootstrap_servers="127.0.0.1:1", **kwargs)


def test_describe_has_no_password() -> None:
    ds = KafkaDataset(
        bootstrap_servers="b:9092",
        topic="t",
        metadata=EVENT,
        credentials={
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": "SCRAM-SHA-512",
            "username": "u",
            "password": "hunter2",
        },
    )
    assert "hunter2" not in repr(ds)
    assert "ScramLoginModule" in ds._source_options()["kafka.sasl.jaas.config"]


def test_the_consumer_takes_many_records_per_poll_unless_told_otherwise() -> None:
    """Kafka's 500 records per poll made Spark's reader spend ~1.8x the time on small events
    (the benchmark's); the default is 50,000, and load_args still win."""
    default = KafkaDataset(bootstrap_servers="b:9092", topic="t", metadata=EVENT)
    assert default._source_options()["kafka.max.poll.records"] == "50000"
    mine = KafkaDataset(
        bootstrap_servers="b:9092",
        topic="t",
        metadata=EVENT,
        load_args={"kafka.max.poll.records": 200},
    )
    assert mine._source_options()["kafka.max.poll.records"] == "200"
