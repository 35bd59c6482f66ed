"""Output and dead-letter messages as history rows: ids found in records, rows made, the rest counted.

The readers' broker-facing parts run in tests/integration/test_observe_output.py; here the pure
parts run over synthetic aiokafka and pika records: header mapping, the record time, id
extraction on records shaped as a service writes them (fuzzed), the rows ``MessageRows`` makes,
and the RabbitMQ reader's refusal to take a redelivered message twice.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pika.spec
from aiokafka.structs import ConsumerRecord
from hypothesis import given
from hypothesis import strategies as st

from harness.drivers import AmqpTarget
from harness.observe.kafka_stream import record_time
from harness.observe.kafka_stream import to_message as kafka_message
from harness.observe.rabbitmq_stream import RabbitQueueReader
from harness.observe.rabbitmq_stream import to_message as amqp_message
from harness.observe.streams import (
    LOGGED_UNREADABLE,
    MessageRows,
    StreamMessage,
    amqp_headers,
    dead_letter_fields,
    id_reader,
    kafka_headers,
)
from harness.scenario.observe import IdField

ids = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=40)
header_names = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=20)


class Rows:
    """Collects what ``MessageRows`` records, as ``Source.record`` would receive it."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def record(self, event_id: str, t: float, **fields: Any) -> None:
        self.rows.append({"id": event_id, "t": t, **fields})


def kafka_record(
    headers: list[tuple[str, bytes | None]],
    value: bytes | None,
    *,
    partition: int = 0,
    offset: int = 0,
    timestamp: int = 1_700_000_000_000,
) -> ConsumerRecord:
    return ConsumerRecord(
        topic="orders-out-1",
        partition=partition,
        offset=offset,
        timestamp=timestamp,
        timestamp_type=0,
        key=b"k1",
        value=value,
        checksum=None,
        serialized_key_size=2,
        serialized_value_size=len(value or b""),
        headers=headers,
    )


def rows_of(id_field: IdField, *messages: StreamMessage) -> tuple[Rows, MessageRows]:
    sink = Rows()
    rows = MessageRows(id_field, sink.record, what="output topic 'orders-out-1'")
    for message in messages:
        rows.take(message)
    return sink, rows


# --- headers and times ----------------------------------------------------------------------


@given(st.lists(st.tuples(header_names, st.one_of(st.none(), st.binary(max_size=20)))))
def test_kafka_headers_keep_the_first_value_of_each_name_and_drop_nulls(headers) -> None:
    mapped = kafka_headers(headers)
    for name, value in mapped.items():
        assert value == next(v for n, v in headers if n == name and v is not None)
    assert set(mapped) == {n for n, v in headers if v is not None}


def test_amqp_headers_keep_text_bytes_and_numbers_but_not_tables() -> None:
    headers = {
        "ce-id": "e1",
        "raw": b"x",
        "n": 7,
        "flag": True,
        "x-death": [{"reason": "rejected"}],
    }
    assert amqp_headers(headers) == {"ce-id": "e1", "raw": b"x", "n": "7"}
    assert amqp_headers(None) == {}


@given(
    st.one_of(st.none(), st.integers(-5, 2**45)),
    st.floats(0, 1e6, allow_nan=False),
    st.floats(-1e9, 2e9, allow_nan=False),
)
def test_a_record_time_is_never_later_than_its_arrival(timestamp_ms, arrival, wall_offset) -> None:
    t = record_time(timestamp_ms, arrival, wall_offset)
    assert t <= arrival
    if timestamp_ms is None or timestamp_ms < 0:
        assert t == arrival


def test_a_record_time_is_its_timestamp_on_the_run_clock() -> None:
    assert record_time(1_700_000_000_000, 200.0, 1_699_999_900.0) == 100.0
    assert record_time(1_700_000_000_500, 100.2, 1_699_999_900.0) == 100.2  # clamped


# --- ids found in output records (fuzzed) ---------------------------------------------------


@given(ids, st.sampled_from(["ce_id", "ce-id"]), st.binary(max_size=200))
def test_the_default_id_is_the_cloudevents_header_whatever_the_body(event_id, name, body) -> None:
    record = kafka_record([("ce_type", b"order.accepted"), (name, event_id.encode())], body)
    sink, rows = rows_of(IdField(), kafka_message(record, 5.0, 0.0))
    assert [r["id"] for r in sink.rows] == [event_id]
    assert rows.unreadable == 0


@given(ids, header_names)
def test_a_named_header_gives_the_id(event_id, name) -> None:
    record = kafka_record([(name, event_id.encode())], b"not json")
    sink, _ = rows_of(IdField(header=name), kafka_message(record, 5.0, 0.0))
    assert [r["id"] for r in sink.rows] == [event_id]


@given(ids, st.lists(st.text(min_size=0, max_size=5), max_size=3))
def test_a_jsonpath_into_the_body_gives_the_id(event_id, noise) -> None:
    body = json.dumps({"order": {"event_id": event_id, "lines": noise}, "id": "decoy"}).encode()
    record = kafka_record([("ce_id", b"decoy")], body)
    sink, _ = rows_of(IdField(jsonpath="$.order.event_id"), kafka_message(record, 5.0, 0.0))
    assert [r["id"] for r in sink.rows] == [event_id]


@given(
    st.lists(st.tuples(header_names, st.one_of(st.none(), st.binary(max_size=30))), max_size=6),
    st.one_of(st.none(), st.binary(max_size=300)),
    st.sampled_from([IdField(), IdField(header="ce_id"), IdField(jsonpath="$.a[0].b")]),
)
def test_any_record_is_either_one_row_or_one_unreadable(headers, value, id_field) -> None:
    sink, rows = rows_of(id_field, kafka_message(kafka_record(headers, value), 5.0, 0.0))
    assert len(sink.rows) + rows.unreadable == 1 == rows.read
    for row in sink.rows:
        assert isinstance(row["id"], str) and row["id"]


@given(
    st.dictionaries(
        st.one_of(header_names, st.sampled_from(["ce_id", "CE_ID", "ce-id", "Ce-Id", "key"])),
        st.one_of(st.none(), st.binary(max_size=12), st.text(max_size=12)),
        max_size=6,
    ),
    st.one_of(
        st.binary(max_size=60),
        st.builds(lambda v: json.dumps({"id": v}).encode(), st.one_of(ids, st.integers())),
    ),
    st.sampled_from(
        [IdField(), IdField(header="ce_id"), IdField(header="X-Order"), IdField(jsonpath="$.id")]
    ),
)
def test_the_compiled_id_reader_answers_as_the_id_field_does(headers, body, id_field) -> None:
    assert id_reader(id_field)(headers, body) == id_field.extract(headers, body)


# --- the rows ---------------------------------------------------------------------------------


def test_each_kafka_output_is_one_effect_row_with_its_place() -> None:
    records = [
        kafka_record([("ce_id", b"e7-1")], b"{}", partition=2, offset=40),
        kafka_record([("ce_id", b"e7-1")], b"{}", partition=2, offset=41),  # a duplicate output
        kafka_record([("ce_id", b"e7-2")], b"{}", partition=0, offset=3, timestamp=-1),
    ]
    sink, rows = rows_of(IdField(), *(kafka_message(r, 9.0, 1_699_999_995.0) for r in records))
    assert sink.rows == [
        {"id": "e7-1", "t": 5.0, "partition": 2, "offset": 40},
        {"id": "e7-1", "t": 5.0, "partition": 2, "offset": 41},
        {"id": "e7-2", "t": 9.0, "partition": 0, "offset": 3},
    ]
    assert rows.stats() == {"read": 3, "unreadable": 0}


def test_an_output_without_an_id_is_counted_and_only_the_first_few_logged(caplog) -> None:
    bad = [kafka_message(kafka_record([], b"{}", offset=i), 1.0, 0.0) for i in range(8)]
    with caplog.at_level(logging.WARNING, logger="harness.observe.streams"):
        sink, rows = rows_of(IdField(), *bad)
    assert sink.rows == []
    assert rows.stats() == {"read": 8, "unreadable": 8}
    assert len(caplog.records) == LOGGED_UNREADABLE
    assert "offset 7" in (rows.last_unreadable or "")
    assert "id` setting" in caplog.records[0].getMessage()


def test_a_dead_letter_row_carries_the_reason_the_message_gives() -> None:
    kafka = kafka_message(
        kafka_record([("ce_id", b"e1"), ("x-dead-letter-reason", b"not JSON")], b"POISON"), 1, 0
    )
    assert dead_letter_fields(kafka) == {"partition": 0, "offset": 0, "reason": "not JSON"}
    plain = kafka_message(kafka_record([("ce_id", b"e1")], b"POISON"), 1, 0)
    assert "reason" not in dead_letter_fields(plain)


def deliver(tag: int, redelivered: bool = False) -> pika.spec.Basic.Deliver:
    return pika.spec.Basic.Deliver(delivery_tag=tag, redelivered=redelivered, routing_key="q")


def test_a_rabbitmq_dead_letter_gives_its_x_death_reason_and_queue() -> None:
    props = pika.spec.BasicProperties(
        headers={"ce-id": "e3", "x-death": [{"reason": "rejected", "queue": "orders-1"}]}
    )
    message = amqp_message("orders-1.dlq", deliver(1), props, b"POISON", 2.5)
    sink, _ = rows_of(IdField(), message)
    assert [r["id"] for r in sink.rows] == ["e3"]
    assert dead_letter_fields(message) == {"queue": "orders-1.dlq", "reason": "rejected"}


class Channel:
    """Stands in for a pika channel in the reader's callback: records what is acked."""

    def __init__(self) -> None:
        self.acked: list[int] = []

    def basic_ack(self, tag: int) -> None:
        self.acked.append(tag)


def test_a_redelivery_of_a_taken_message_is_acked_not_taken_again() -> None:
    taken: list[StreamMessage] = []
    reader = RabbitQueueReader(
        AmqpTarget(queue="orders-out-1", dead_letter=False), taken.append, what="output queue"
    )
    channel = Channel()
    one = pika.spec.BasicProperties(headers={"ce-id": "e1"})
    two = pika.spec.BasicProperties(headers={"ce-id": "e2"})
    reader._on_message(channel, deliver(1), one, b"{}")
    reader._on_message(channel, deliver(2), one, b"{}")  # the service wrote e1 twice
    reader._on_message(channel, deliver(1, redelivered=True), one, b"{}")  # its ack was lost
    reader._on_message(channel, deliver(2, redelivered=True), two, b"{}")  # never taken before
    assert [m.headers["ce-id"] for m in taken] == ["e1", "e1", "e2"]
    assert reader.redelivered_skipped == 1
    assert channel.acked == [1, 2, 1, 2]
