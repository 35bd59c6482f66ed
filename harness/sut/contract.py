"""The external system under test's contract: the environment it gets, the reports it sends.

The harness starts the scenario's command with these variables (docs/system-under-test.md):

========================= =====================================================================
variable                  meaning
========================= =====================================================================
HARNESS_KAFKA_BOOTSTRAP   bootstrap servers (every address goes through Toxiproxy)
HARNESS_TOPIC             the topic the storm is produced to
HARNESS_GROUP             the consumer group to consume it in
HARNESS_MODE              ``correct`` or ``buggy`` (the scenario's ``mode``; ``correct`` if unset)
HARNESS_REPORT_TOPIC      where to report what it did (JSON records, see below)
HARNESS_DLQ_TOPIC         where to dead-letter poison events
HARNESS_STATE_DIR         a directory that survives a crash and restart (its durable state)
HARNESS_CONSUMER          a name for the consumer, recorded in the history's ``consumer``
HARNESS_RUN_ID            the run's id
========================= =====================================================================

A report record is one JSON object per Kafka message on the report topic::

    {"op": "recv" | "effect" | "dead_letter" | "ready", "id": "...", "key": "...", "seq": 3,
     "partition": 0, "offset": 41, "t": 12345.678, "consumer": "...", "group": "...",
     "worker": "...", "reason": "...", "rid": "..."}

``t`` is ``time.monotonic()`` (the run clock). ``rid`` names one reported fact: records with a
``rid`` already seen are dropped, so a system may safely report again what a crash may have
left unreported. ``ready`` (partitions assigned) is a signal, not a history row. Unknown fields
are ignored, so a system may add its own.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.vocabulary import REPORTED_SOURCE

HISTORY_OPS = ("recv", "effect", "dead_letter")
READY = "ready"
"""The op a system reports once it has been assigned partitions (it is consuming)."""

_TEXT_FIELDS = ("id", "key", "consumer", "group", "worker", "reason")
_INT_FIELDS = ("seq", "partition", "offset")

PYTHON_WORDS = frozenset({"python", "python3"})


@dataclass(frozen=True)
class Wiring:
    """Where the system under test meets the harness: the values of the HARNESS_* variables."""

    bootstrap: str
    topic: str
    group: str
    mode: str
    report_topic: str
    dlq_topic: str
    state_dir: Path
    consumer: str
    run_id: str

    def variables(self) -> dict[str, str]:
        return {
            "HARNESS_KAFKA_BOOTSTRAP": self.bootstrap,
            "HARNESS_TOPIC": self.topic,
            "HARNESS_GROUP": self.group,
            "HARNESS_MODE": self.mode,
            "HARNESS_REPORT_TOPIC": self.report_topic,
            "HARNESS_DLQ_TOPIC": self.dlq_topic,
            "HARNESS_STATE_DIR": str(self.state_dir),
            "HARNESS_CONSUMER": self.consumer,
            "HARNESS_RUN_ID": self.run_id,
        }


def build_env(
    wiring: Wiring, scenario_env: Mapping[str, str], base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The process environment: ``base`` (the harness's own), the scenario's, then the wiring.

    A scenario may not set a wiring variable: the harness would then observe another topic or
    group than the one the system uses.
    """
    wired = wiring.variables()
    clash = sorted(set(scenario_env) & set(wired))
    if clash:
        raise ConfigError(
            f"system_under_test.env sets {', '.join(clash)}, which the harness sets itself "
            "(they wire the system to this run's topics); remove them from the scenario."
        )
    env = dict(os.environ if base is None else base)
    env.update(scenario_env)
    env.update(wired)
    env["PYTHONUNBUFFERED"] = "1"  # the log shows what happened up to a SIGKILL
    return env


def resolve_command(command: list[str]) -> list[str]:
    """The command to start; a bare ``python`` is the harness's own interpreter, which can
    import ``harness`` (for ``harness.events.decode_kafka``)."""
    if not command:
        raise ConfigError("system_under_test.command is empty; name the program to start.")
    if command[0] in PYTHON_WORDS:
        return [sys.executable, *command[1:]]
    return list(command)


def report_to_row(report: Mapping[str, Any]) -> dict[str, Any] | None:
    """The history row of one report record, or None if it is not a history op.

    Raises ``ValueError`` naming the problem for a record that claims a history op but cannot
    be one (no ``id``, no numeric ``t``, a field of the wrong type).
    """
    op = report.get("op")
    if op not in HISTORY_OPS:
        if op == READY:
            return None
        raise ValueError(
            f"op {op!r} is not one of {', '.join((*HISTORY_OPS, READY))}; send one of these "
            "(docs/system-under-test.md)"
        )
    row: dict[str, Any] = {"op": op}
    for name in _TEXT_FIELDS:
        value = report.get(name)
        if value is not None:
            row[name] = str(value)
    for name in _INT_FIELDS:
        value = report.get(name)
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(
                    f"field {name!r} must be an integer, got {value!r}; send it as a JSON integer"
                )
            row[name] = value
    if "id" not in row:
        raise ValueError(f"a {op!r} report needs the event's 'id'; copy it from the ce_id header")
    t = report.get("t")
    if isinstance(t, bool) or not isinstance(t, int | float):
        raise ValueError(
            f"field 't' must be time.monotonic() seconds, got {t!r}; send the float "
            "time.monotonic() returned when the op happened"
        )
    row["t"] = float(t)
    row["source"] = REPORTED_SOURCE
    return row


__all__ = [
    "HISTORY_OPS",
    "PYTHON_WORDS",
    "READY",
    "Wiring",
    "build_env",
    "report_to_row",
    "resolve_command",
]
