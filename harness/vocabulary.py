"""The shared vocabulary: names that several stages speak, defined once at the bottom layer.

Anomaly names (what checks find, what scenarios expect, what reports tally) and Toxiproxy's
toxic types and streams (what scenarios ask for, what the Toxiproxy client sends) live here,
so that no stage imports a higher one just to spell a name.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

ANOMALIES: Final = (
    "lost",
    "unexpected",
    "duplicate_delivery",
    "duplicate_write",
    "inconsistent_offset",
    "out_of_order",
    "out_of_order_effect",
    "recovered",
    "duplicate_effect",
    "missing_effect",
    "dlq_missing",
    "dlq_unexpected",
    "request_after_give_up",
    "retry_after_ignored",
    "bad_signature",
    "retry_id_changed",
    "retry_policy_violation",
    "forged_accepted",
    "lost_after_retries",
    "schema_rejected",
)
"""Every anomaly a check can report, in report order (see ``docs/history-format.md``)."""


class Stream(StrEnum):
    """Direction a toxic acts on: client->broker (upstream) or broker->client (downstream)."""

    UPSTREAM = "upstream"
    DOWNSTREAM = "downstream"


class ToxicType(StrEnum):
    """Toxiproxy's toxics."""

    LATENCY = "latency"
    BANDWIDTH = "bandwidth"
    TIMEOUT = "timeout"
    RESET_PEER = "reset_peer"
    SLOW_CLOSE = "slow_close"
    SLICER = "slicer"
    LIMIT_DATA = "limit_data"


OBSERVED_PREFIX = "observe:"
"""A history row whose ``source`` starts with this was recorded by a black-box observation
source (``observe:<name>``); ``report`` marks the report contract, null the harness's own."""
REPORTED_SOURCE = "report"

SCHEMA_PLAN_FILE = "schema-plan.parquet"
"""Beside a schema-driven run's history: each event's schema version, drift and whether the
reader must be able to read it (``id``, ``version``, ``drift``, ``must_read``)."""


__all__ = [
    "ANOMALIES",
    "OBSERVED_PREFIX",
    "REPORTED_SOURCE",
    "SCHEMA_PLAN_FILE",
    "Stream",
    "ToxicType",
]
