"""Cost of the CloudEvents envelope: the hand-written codec against the cloudevents SDK 2.2.

    .venv/bin/python benchmarks/bench_events.py

Both produce the same headers (tests/unit/test_events.py holds them equal); this prints the
SDK's time per event as a ratio to the hand-written one, for encode and decode on Kafka.
"""

from __future__ import annotations

import timeit
from datetime import UTC, datetime

from cloudevents.core.bindings import kafka
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from harness.events import Event, decode_kafka, encode_kafka

N = 20_000


def per_event_us(function) -> float:
    return min(timeit.repeat(function, number=N, repeat=3)) / N * 1e6


def main() -> None:
    event = Event(
        "r7-123456", "key-042", 17, 1234.5678912345, 1234.5679, b'{"id":"r7-123456"}' * 20
    )
    key, value, headers = encode_kafka(event, wall_offset=1.7e9)
    attributes = {name[3:]: raw.decode() for name, raw in headers if name.startswith("ce_")}
    attributes["time"] = datetime.fromtimestamp(event.sent + 1.7e9, tz=UTC)
    attributes["datacontenttype"] = "application/json"
    fmt = JSONFormat()
    header_dict = dict(headers)

    ours_encode = per_event_us(lambda: encode_kafka(event, 1.7e9))
    sdk_encode = per_event_us(
        lambda: kafka.to_binary(CloudEvent(attributes=dict(attributes), data=value), fmt)
    )
    ours_decode = per_event_us(lambda: decode_kafka(key, value, headers))
    sdk_decode = per_event_us(
        lambda: kafka.from_binary(
            kafka.KafkaMessage(headers=header_dict, key=key, value=value), fmt
        )
    )
    print(
        f"encode: ours {ours_encode:.2f} us/event, SDK {sdk_encode:.2f} us = {sdk_encode / ours_encode:.1f} x ours"
    )
    print(
        f"decode: ours {ours_decode:.2f} us/event, SDK {sdk_decode:.2f} us = {sdk_decode / ours_decode:.1f} x ours"
    )


if __name__ == "__main__":
    main()
