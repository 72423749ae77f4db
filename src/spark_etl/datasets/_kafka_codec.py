"""The Kafka strategy's value codec: a contract's records as Avro or JSON values, plain or behind
Confluent's header (a magic byte and the 4-byte schema id).

Decoding runs in the JVM (``from_avro`` / ``from_json``, PERMISSIVE): a value it cannot decode
becomes a record of nulls, which :func:`undecoded` tells apart from a record.

JSON values take Spark's JSON options (``timestampFormat``, ``allowComments``...), and an epoch
unit for the contract's timestamp fields: Spark reads a number in a timestamp field as seconds,
so with ``epoch_unit`` the field is read as its text and turned into a timestamp by the unit when
it is a number, by the timestamp format when it is text (epoch ms, epoch s and ISO text can then
share a topic). Timestamps are written as numbers of that unit.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from functools import reduce
from typing import TYPE_CHECKING, Literal

from pyspark.sql import functions as F
from pyspark.sql.avro.functions import from_avro, to_avro
from pyspark.sql.types import StringType, StructField, StructType, TimestampNTZType, TimestampType

from spark_etl.datasets.exceptions import DatasetConfigError

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

    from spark_etl.contracts import Contract

ValueFormat = Literal["avro", "json"]
WireFormat = Literal["plain", "confluent"]
EpochUnit = Literal["s", "ms", "us"]
EPOCH: tuple[str, ...] = ("s", "ms", "us")
#: A number of each unit as a timestamp, and a timestamp as a number of it (Spark built-ins).
_FROM_EPOCH = {
    "s": lambda n: F.timestamp_seconds(n.try_cast("double")),
    "ms": lambda n: F.timestamp_millis(n.try_cast("double").cast("long")),
    "us": lambda n: F.timestamp_micros(n.try_cast("double").cast("long")),
}
_TO_EPOCH = {"s": F.unix_seconds, "ms": F.unix_millis, "us": F.unix_micros}
_NUMBER = r"^\s*-?[0-9]+(\.[0-9]+)?\s*$"
_CONFLUENT_MAGIC = b"\x00"
_CONFLUENT_HEADER = 5


@dataclass(frozen=True)
class ValueCodec:
    """How a dataset's Kafka values hold its contract's records.

    Attributes:
        value_format: ``avro`` (binary) or ``json`` (text).
        wire: ``plain``, or ``confluent``: Confluent's header before the record.
        schema_id: the Confluent schema id written, and the only one accepted on read (any
            when ``None``).
        json_options: Spark's options of ``from_json`` / ``to_json`` (JSON values only).
        epoch_unit: the unit of the numbers in the contract's timestamp fields (JSON values
            only; ``None``: Spark's own reading, a number as seconds).
    """

    value_format: ValueFormat
    wire: WireFormat
    schema_id: int | None = None
    json_options: dict[str, str] = field(default_factory=dict)
    epoch_unit: EpochUnit | None = None

    def decoded(self, raw: DataFrame, contract: Contract) -> DataFrame:
        """Kafka's rows with their value decoded as ``contract``'s record, in ``_record``
        (decoded once: see :func:`_decoded_once`)."""
        return raw.select("*", _decoded_once(self._decode(contract)).alias("_record"))

    def _decode(self, contract: Contract) -> Column:
        payload = F.col("value")
        if self.wire == "confluent":
            payload = F.expr(f"substring(value, {_CONFLUENT_HEADER + 1})")
        if self.value_format == "json":
            record = self._from_json(payload.cast("string"), contract.spark_schema)
        else:
            record = from_avro(payload, contract.avro_json, {"mode": "PERMISSIVE"})
        if self.wire == "confluent":
            record = F.when(self._confluent_header_ok(), record)
        return record

    def _from_json(self, text: Column, schema: StructType) -> Column:
        options = {**self.json_options, "mode": "PERMISSIVE"}
        stamps = _timestamp_fields(schema) if self.epoch_unit else []
        if not stamps:
            return F.from_json(text, schema, options)
        as_text = StructType(
            [
                StructField(f.name, StringType(), f.nullable) if f.name in stamps else f
                for f in schema
            ]
        )
        raw = F.from_json(text, as_text, options)
        fields = [
            (
                self._timestamp(raw[f.name]).cast(f.dataType) if f.name in stamps else raw[f.name]
            ).alias(f.name)
            for f in schema
        ]
        return F.when(raw.isNotNull(), F.struct(*fields))

    def _timestamp(self, text: Column) -> Column:
        """A timestamp field's text: a number of :attr:`epoch_unit`, else a timestamp in the
        options' ``timestampFormat`` (ISO-8601 without one); null if it is neither."""
        assert self.epoch_unit is not None  # only called with an epoch unit
        pattern = self.json_options.get("timestampFormat")
        as_text = F.try_to_timestamp(text, F.lit(pattern)) if pattern else F.try_to_timestamp(text)
        return F.when(text.rlike(_NUMBER), _FROM_EPOCH[self.epoch_unit](text)).otherwise(as_text)

    def _confluent_header_ok(self) -> Column:
        ok = F.expr("substring(value, 1, 1)") == F.lit(bytearray(_CONFLUENT_MAGIC))
        if self.schema_id is not None:
            ok = ok & (F.expr("substring(value, 2, 4)") == F.lit(_schema_id_bytes(self.schema_id)))
        return ok & (F.length("value") > _CONFLUENT_HEADER)

    def encode(self, conformed: DataFrame, contract: Contract, dataset: str) -> Column:
        """The value of each row of ``conformed`` (the contract's columns, conformed).

        Raises:
            DatasetConfigError: for the Confluent wire format without a schema id (``dataset``
                names the dataset).
        """
        if self.value_format == "json":
            stamps = _timestamp_fields(conformed.schema) if self.epoch_unit else []
            record = F.struct(
                *[
                    _TO_EPOCH[self.epoch_unit](conformed[c]).alias(c)  # type: ignore[index]
                    if c in stamps
                    else conformed[c]
                    for c in conformed.columns
                ]
            )
            value = F.to_json(record, self.json_options).cast("binary")
        else:
            record = F.struct(*[conformed[c] for c in conformed.columns])
            value = to_avro(record, contract.avro_json)
        if self.wire == "confluent":
            if self.schema_id is None:
                raise DatasetConfigError(
                    f"KafkaDataset '{dataset}': wire_format confluent needs schema_id, the "
                    "id the schema registry gave this schema."
                )
            header = bytearray(_CONFLUENT_MAGIC + _schema_id_bytes(self.schema_id))
            value = F.concat(F.lit(header), value)
        return value

    def reason(self) -> Column:
        """Why a Kafka row's value is a dead letter: undecodable, and where it is."""
        return F.format_string(
            f"undecodable {self.value_format} value ({self.wire} wire format) at topic %s "
            "partition %d offset %d",
            "topic",
            "partition",
            "offset",
        )


def undecoded(contract: Contract) -> Column:
    """True where decoding failed.

    Spark's PERMISSIVE mode yields a record of nulls for a value it cannot decode, and a decoded
    Avro record never holds null in a field whose type is not a null union. A contract without
    such fields counts an all-null record as undecodable.
    """
    record = F.col("_record")
    if contract.required:
        failed = reduce(operator.or_, [record[f].isNull() for f in contract.required])
    else:
        failed = reduce(operator.and_, [record[f].isNull() for f in contract.avro_field_names])
    return record.isNull() | failed


def _decoded_once(record: Column) -> Column:
    """``record`` made non-deterministic (behind a task constant), so that the optimiser keeps
    it in its own projection: otherwise it pushes the filters on the record (undecodable or
    not, the contract's checks) beneath that projection, putting a copy of the decoder into each
    of their conditions, and every value is decoded several times (measured: the stream's
    decoding stage took twice as long)."""
    return F.when(F.spark_partition_id() >= 0, record)


def _timestamp_fields(schema: StructType) -> list[str]:
    """The top-level timestamp fields of ``schema`` (the ones an epoch unit applies to)."""
    return [f.name for f in schema if isinstance(f.dataType, TimestampType | TimestampNTZType)]


def _schema_id_bytes(schema_id: int) -> bytearray:
    return bytearray(schema_id.to_bytes(4, "big"))
