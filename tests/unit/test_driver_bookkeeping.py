"""The producer bookkeeping and the AMQP URL parsing every client shares (one copy each)."""

from __future__ import annotations

from typing import NamedTuple

import pytest

from harness.drivers import AmqpTarget, ListRecorder, Outcome, SendLog
from harness.errors import ConfigError


class _Event(NamedTuple):
    id: str
    key: str
    seq: int
    intended: float


EVENT = _Event("e-1", "k", 0, 1.0)


def test_send_log_counts_each_outcome_and_records_one_row() -> None:
    recorder = ListRecorder()
    log = SendLog(recorder, "p1", "connections")
    log.sent()
    log.sent()
    log.record_kafka(EVENT, 2.0, Outcome.OK, None, 3, 41)
    log.record_kafka(EVENT, 2.5, Outcome.UNKNOWN, "timeout", None, 7)
    assert log.counts == {"sent": 2, "ok": 1, "fail": 0, "unknown": 1, "connections": 0}
    first, second = recorder.rows
    assert (first["partition"], first["offset"], first["producer"]) == (3, 41, "p1")
    # an offset without its partition is no log position: it is not kept
    assert "offset" not in second and second["error"] == "timeout"


def test_send_log_passes_other_positions_through() -> None:
    recorder = ListRecorder()
    SendLog(recorder, "rabbit").record(EVENT, 1.5, Outcome.FAIL, "nack", queue="q", delivery_tag=9)
    (row,) = recorder.rows
    assert (row["status"], row["queue"], row["delivery_tag"]) == ("fail", "q", 9)


def test_amqp_url_parts_are_percent_decoded() -> None:
    target = AmqpTarget.from_url("amqp://us%40er:p%2Fw@127.0.0.1:35672/%2Fprod", "orders")
    assert (target.host, target.port, target.virtual_host) == ("127.0.0.1", 35672, "/prod")
    assert (target.username, target.password, target.queue) == ("us@er", "p/w", "orders")


def test_amqp_url_defaults_are_rabbitmqs() -> None:
    target = AmqpTarget.from_url("amqp://localhost", "q", durable=False, dead_letter=False)
    assert (target.port, target.virtual_host, target.username, target.password) == (
        5672,
        "/",
        "guest",
        "guest",
    )
    assert (target.durable, target.dead_letter) == (False, False)


def test_a_bad_port_is_a_config_error_that_hides_the_password() -> None:
    with pytest.raises(ConfigError, match="invalid port") as caught:
        AmqpTarget.from_url("amqp://guest:s3cret@127.0.0.1:99999/", "q")
    assert "s3cret" not in str(caught.value)
