"""The one ``send`` row a producer appends when a send's outcome is known.

Every producer (aiokafka, pika, Locust's librdkafka users) builds it here, so the history's
send rows carry the same fields whichever client sent the event.
"""

from __future__ import annotations

from typing import Any

from harness import clock
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


__all__ = ["send_row"]
