"""The CloudEvents envelope: round trips, and byte-equality with the cloudevents SDK."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace

import pytest
from cloudevents.core.bindings import kafka, rabbitmq
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from hypothesis import given
from hypothesis import strategies as st

from harness.events import (
    Event,
    decode_amqp,
    decode_kafka,
    encode_amqp,
    encode_kafka,
    rfc3339,
)

WALL = 1_700_000_000.0
text = st.text(min_size=1, max_size=30)
times = st.floats(min_value=0, max_value=1e7, allow_nan=False)
events = st.builds(
    Event,
    id=text,
    key=text,
    seq=st.integers(1, 2**53),
    intended=times,
    sent=times,
    payload=st.binary(max_size=300),
    poison=st.booleans(),
    source=text,
    type=text,
)


def expected(event: Event) -> tuple:
    return (
        event.id,
        event.key,
        event.seq,
        event.intended,
        event.sent,
        event.payload,
        event.poison,
        event.source,
        event.type,
    )


def decoded_fields(decoded) -> tuple:
    return (
        decoded.id,
        decoded.key,
        decoded.seq,
        decoded.intended,
        decoded.sent,
        decoded.payload,
        decoded.poison,
        decoded.source,
        decoded.type,
    )


@given(events)
def test_kafka_round_trip(event):
    key, value, headers = encode_kafka(event, wall_offset=WALL)
    decoded = decode_kafka(key, value, headers)
    assert decoded_fields(decoded) == expected(event)
    assert decoded.time == rfc3339(event.sent + WALL)
    assert decoded.content_type == "application/json"


@given(events)
def test_amqp_round_trip_with_dict_and_pika_like_properties(event):
    message = encode_amqp(event, wall_offset=WALL)
    assert decoded_fields(decode_amqp(message.properties, message.body)) == expected(event)
    # pika may hand header values back as bytes
    props = SimpleNamespace(
        headers={k: v.encode() for k, v in message.properties["headers"].items()},
        content_type=message.content_type,
    )
    assert decoded_fields(decode_amqp(props, message.body)) == expected(event)


def sdk_event(event: Event) -> CloudEvent:
    attributes = {
        "id": event.id,
        "source": event.source,
        "type": event.type,
        "specversion": "1.0",
        "time": datetime.fromisoformat(rfc3339(event.sent + WALL).replace("Z", "+00:00")),
        "datacontenttype": "application/json",
        "partitionkey": event.key,
        "seq": str(event.seq),
        "intended": repr(event.intended),
        "sent": repr(event.sent),
        "poison": "true" if event.poison else "false",
    }
    return CloudEvent(attributes=attributes, data=event.payload)


@given(events)
def test_kafka_encoding_equals_the_sdk(event):
    key, value, headers = encode_kafka(event, wall_offset=WALL)
    message = kafka.to_binary(sdk_event(event), JSONFormat())
    assert (message.key, message.value, message.headers) == (event.key, value, dict(headers))
    assert key == event.key.encode()
    back = kafka.from_binary(
        kafka.KafkaMessage(headers=dict(headers), key=key, value=value), JSONFormat()
    )
    assert back.get_id() == event.id


@given(events)
def test_amqp_encoding_equals_the_sdk_rabbitmq_binding(event):
    message = encode_amqp(event, wall_offset=WALL)
    sdk = rabbitmq.to_binary(sdk_event(event), JSONFormat())
    assert (sdk.headers, sdk.content_type, sdk.body) == (
        message.properties["headers"],
        message.content_type,
        message.body,
    )
    assert message.properties["message_id"] == event.id


def test_high_resolution_times_survive_exactly():
    event = Event("a-1", "k", 1, 12345.678901234567, 12345.678901234999, b"{}")
    decoded = decode_kafka(*encode_kafka(event))
    assert (decoded.intended, decoded.sent) == (event.intended, event.sent)


def test_decoding_a_foreign_message_says_what_is_missing():
    with pytest.raises(ValueError, match="not a harness event: CloudEvents attributes id, seq"):
        decode_kafka(b"k", b"{}", [("ce_type", b"x"), ("ce_intended", b"1"), ("ce_sent", b"1")])
