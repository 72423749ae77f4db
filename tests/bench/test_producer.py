"""The benchmark's producer splices Avro payloads from parts: they must decode as the contract."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

from bench.producer import ID_DIGITS, EventEncoder
from fastavro import parse_schema, schemaless_reader

from spark_etl.contracts import default_registry


def test_spliced_payloads_decode_as_user_events() -> None:
    encoder = EventEncoder.build()
    schema = parse_schema(json.loads(default_registry().get("user_event").avro_json))
    stamp = encoder.timestamp(1767225600.25)
    head = encoder.head(0)[:-ID_DIGITS]
    decoded = []
    for n in (0, 7, 123_456_789):
        t = n % len(encoder.middles)
        value = b"".join((head, b"%012d" % n, encoder.middles[t], stamp, encoder.tails[t]))
        decoded.append(schemaless_reader(io.BytesIO(value), schema, None))
    assert [r["event_id"] for r in decoded] == [
        "evt-000000000000",
        "evt-000000000007",
        "evt-000123456789",
    ]
    assert {r["timestamp"] for r in decoded} == {datetime(2026, 1, 1, 0, 0, 0, 250000, tzinfo=UTC)}
    for record in decoded:
        assert record["user_id"].startswith("user-") and len(record["user_id"]) == 11
        assert record["properties"]["device"] in {"web", "ios"}
        assert (record["amount"] is not None) == (record["event_type"] == "purchase")


def test_templates_cover_every_event_type_with_their_keys() -> None:
    encoder = EventEncoder.build()
    schema = parse_schema(json.loads(default_registry().get("user_event").avro_json))
    stamp = encoder.timestamp(0)
    head = encoder.head(1)
    kinds = set()
    for t in range(len(encoder.middles)):
        record = schemaless_reader(
            io.BytesIO(head + encoder.middles[t] + stamp + encoder.tails[t]), schema, None
        )
        assert record["user_id"].encode() == encoder.keys[t]
        kinds.add(record["event_type"])
    assert kinds == {"page_view", "click", "add_to_cart", "purchase", "signup"}
