"""The fixed-rate producer of the streaming benchmark, run as its own process (an upstream service).

    python -m bench.producer --bootstrap HOST:PORT --topic T --rate 100000 --seconds 60

It writes plain Avro ``user_event`` records (the pipeline's contract) with librdkafka
(confluent-kafka), so that it takes a fraction of a core and leaves the machine to the pipeline
being measured. A Spark producer (rate source -> to_avro -> Kafka) took 1.5 of the 2 cores at
100K events/s here.

Each record's ``timestamp`` (its event time) is the time it is handed to the client, to the
millisecond: records go out in 10 ms ticks, ``rate / 100`` at a time, and a tick that falls behind
is caught up by the next. Payloads are spliced from parts that fastavro encodes once: the unique
event id, a template's user, type, properties and amount, and the tick's timestamp.

Protocol on stdout, one line each: ``ready`` (the process then waits for a line on stdin),
``started``, and ``done {"produced": N, "seconds": S}``.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Producer
from fastavro import parse_schema, schemaless_writer

from spark_etl.contracts import default_registry

TICK_S = 0.01
TEMPLATES = 4096
EVENT_TYPES = ["page_view", "click", "add_to_cart", "purchase", "signup"]
ID_DIGITS = 12


def _encode(fields: list[dict[str, Any]], record: dict[str, Any]) -> bytes:
    """The Avro binary of ``record`` under a record schema of just ``fields`` (Avro encodes a
    record as its fields one after another, so parts of a record concatenate)."""
    schema = parse_schema(
        {"type": "record", "name": "part", "namespace": "bench", "fields": fields},
        named_schemas={},
    )
    out = io.BytesIO()
    schemaless_writer(out, schema, record)
    return out.getvalue()


@dataclass(frozen=True)
class EventEncoder:
    """Builds ``user_event`` payloads from pre-encoded parts."""

    fields: list[dict[str, Any]]
    middles: list[bytes]  # user_id and event_type of each template
    tails: list[bytes]  # properties and amount
    keys: list[bytes]

    @classmethod
    def build(cls, seed: int = 11) -> EventEncoder:
        """Templates of users, types and amounts (deterministic for ``seed``)."""
        fields = json.loads(default_registry().get("user_event").avro_json)["fields"]
        names = [f["name"] for f in fields]
        if names != ["event_id", "user_id", "event_type", "timestamp", "properties", "amount"]:
            raise RuntimeError(f"bench.producer knows user_event as six fields, not {names}")
        middles, tails, keys = [], [], []
        for i in range(TEMPLATES):
            mixed = (i * 2654435761 + seed) % 2**32
            user = f"user-{mixed % 100_000:06d}"
            kind = EVENT_TYPES[mixed % len(EVENT_TYPES)]
            amount = round((mixed % 50_000) / 100, 2) if kind == "purchase" else None
            middles.append(_encode(fields[1:3], {"user_id": user, "event_type": kind}))
            device = "web" if mixed % 2 else "ios"
            tails.append(_encode(fields[4:6], {"properties": {"device": device}, "amount": amount}))
            keys.append(user.encode())
        return cls(fields, middles, tails, keys)

    def head(self, number: int) -> bytes:
        """The encoded ``event_id`` ``evt-<number>`` (fixed width: one cheap format per event)."""
        return _encode(self.fields[:1], {"event_id": f"evt-{number:0{ID_DIGITS}d}"})

    def timestamp(self, epoch_s: float) -> bytes:
        """The encoded ``timestamp`` field (microseconds since the epoch)."""
        return _encode(self.fields[3:4], {"timestamp": int(epoch_s * 1_000_000)})


def _say(line: str) -> None:
    print(line, flush=True)  # noqa: T201 - the protocol with the benchmark


def produce(bootstrap: str, topic: str, rate: int, seconds: float) -> int:
    """Write ``rate`` events per second for ``seconds``; return how many were delivered."""
    encoder = EventEncoder.build()
    id_prefix = encoder.head(0)[:-ID_DIGITS]  # length byte + "evt-"
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 5,
            "batch.num.messages": 10_000,
            "queue.buffering.max.messages": 2_000_000,
        }
    )
    started = time.time()
    sent = 0
    end = started + seconds
    while (now := time.time()) < end:
        due = int((now - started) * rate)
        if due > sent:
            stamp = encoder.timestamp(now)
            for n in range(sent, due):
                t = n % TEMPLATES
                value = b"".join(
                    (id_prefix, b"%012d" % n, encoder.middles[t], stamp, encoder.tails[t])
                )
                while True:
                    try:
                        producer.produce(topic, value, encoder.keys[t])
                        break
                    except BufferError:  # the client's queue is full: let it drain
                        producer.poll(0.05)
            sent = due
        producer.poll(0)
        time.sleep(max(0.0, TICK_S - (time.time() - now)))
    return sent - producer.flush(60)  # flush returns how many are still undelivered


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.producer", description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--rate", type=int, required=True, help="events per second")
    parser.add_argument("--seconds", type=float, required=True)
    args = parser.parse_args()
    EventEncoder.build()  # fail before "ready" if the contract changed
    _say("ready")
    sys.stdin.readline()
    _say("started")
    began = time.monotonic()
    produced = produce(args.bootstrap, args.topic, args.rate, args.seconds)
    elapsed = round(time.monotonic() - began, 2)
    _say("done " + json.dumps({"produced": produced, "seconds": elapsed}))


if __name__ == "__main__":
    main()
