"""The one ``send`` row a producer appends when a send's outcome is known.

Every producer (aiokafka, pika, Locust's librdkafka users) builds it here, so the history's
send rows carry the same fields whichever client sent the event; ``SendLog`` is the
bookkeeping they share (counts by outcome, one row per send).
"""

from __future__ import annotations

from typing import Any

from harness import clock
from harness.drivers._types import Recorder
from harness.drivers.outcomes import Outcome


def send_row(
    event: Any,
    *,
    t: float,
    status: Outcome,
    producer: str,
    error: str | None = None,
    **where: Any,
) -> dict[str, Any]:
    """The row of ``event`` handed to the client at ``t``, answered now with ``status``.

    ``where`` holds the position fields the broker gave (``partition``/``offset``, ``queue``,
    ``delivery_tag``); ``None`` values are left out.
    """
    row: dict[str, Any] = {
        "op": "send",
        "id": event.id,
        "key": event.key,
        "seq": event.seq,
        "t": t,
        "t_intended": event.intended,
        "t_ack": clock.now(),
        "status": status.value,
        "producer": producer,
        "poison": bool(getattr(event, "poison", False)),
    }
    if error is not None:
        row["error"] = error
    row.update({name: value for name, value in where.items() if value is not None})
    return row


class SendLog:
    """One producer's sends: ``counts`` by outcome, and the ``send`` row of each outcome.

    ``counts`` starts as ``{"sent": 0, "ok": 0, "fail": 0, "unknown": 0}`` plus ``extra``
    names; the producer exposes this very dict as its own ``counts``.
    """

    def __init__(self, recorder: Recorder, producer: str, *extra: str) -> None:
        self.producer = producer
        self._recorder = recorder
        self.counts = dict.fromkeys(("sent", "ok", "fail", "unknown", *extra), 0)

    def sent(self) -> None:
        """One more event handed to the client."""
        self.counts["sent"] += 1

    def record(
        self, event: Any, t: float, status: Outcome, error: str | None, **where: Any
    ) -> dict[str, Any]:
        """Count the outcome of ``event`` (handed over at ``t``) and append its row."""
        self.counts[status.value] += 1
        row = send_row(event, t=t, status=status, producer=self.producer, error=error, **where)
        self._recorder.append(row)
        return row

    def record_kafka(
        self,
        event: Any,
        t: float,
        status: Outcome,
        error: str | None,
        partition: int | None = None,
        offset: int | None = None,
    ) -> dict[str, Any]:
        """``record`` with a Kafka position; an offset without a partition is not kept."""
        offset = offset if partition is not None else None
        return self.record(event, t, status, error, partition=partition, offset=offset)


__all__ = ["SendLog", "send_row"]
