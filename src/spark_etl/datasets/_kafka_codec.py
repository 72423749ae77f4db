"""The Kafka strategy's value codec: a contract's records as Avro or JSON values, plain or behind
Confluent's header (a magic byte and the 4-byte schema id).

Decoding runs in the JVM (``from_avro`` / ``from_json``, PERMISSIVE): a value it cannot decode
becomes a record of nulls, which :func:`undecoded` tells apart from a record.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from functools import reduce
from typing import TYPE_CHECKING, Literal

from pyspark.sql import functions as F
from pyspark.sql.avro.functions import from_avro, to_avro

from spark_etl.datasets.exceptions import DatasetConfigError

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

    from spark_etl.contracts import Contract

ValueFormat = Literal["avro", "json"]
WireFormat = Literal["plain", "confluent"]
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
    """

    value_format: ValueFormat
    wire: WireFormat
    schema_id: int | None = None

    def decoded(self, raw: DataFrame, contract: Contract) -> DataFrame:
        """Kafka's rows with their value decoded as ``contract``'s record, in ``_record``
        (decoded once: see :func:`_decoded_once`)."""
        return raw.select("*", _decoded_once(self._decode(contract)).alias("_record"))

    def _decode(self, contract: Contract) -> Column:
        payload = F.col("value")
        if self.wire == "confluent":
            payload = F.expr(f"substring(value, {_CONFLUENT_HEADER + 1})")
        if self.value_format == "json":
            record = F.from_json(
                payload.cast("string"), contract.spark_schema, {"mode": "PERMISSIVE"}
            )
        else:
            record = from_avro(payload, contract.avro_json, {"mode": "PERMISSIVE"})
        if self.wire == "confluent":
            record = F.when(self._confluent_header_ok(), record)
        return record

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
        record = F.struct(*[conformed[c] for c in conformed.columns])
        if self.value_format == "json":
            value = F.to_json(record).cast("binary")
        else:
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


def _schema_id_bytes(schema_id: int) -> bytearray:
    return bytearray(schema_id.to_bytes(4, "big"))
