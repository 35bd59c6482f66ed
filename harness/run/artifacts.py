"""What a run leaves in its folder besides the history: ``summary.json`` and ``junit.xml``.

``summary.json`` holds the checker's verdict in exactly the shape ``harness check --format
json`` prints (``valid``, ``delivery_guarantee``, ``effect_guarantee`` (null when nothing was
sent / no effect ops were recorded), ``anomalies``, ``examples``, ``counts``, ``latency``),
plus the run's own fields: ``passed``, ``exit_code``, ``thresholds`` and ``expectations``
(each condition with its measured value and result), ``metrics``, ``faults`` (per fault window:
latency before / during / after and recovery time), ``seed``, ``scenario``, ``run``
(ids, clock origin) and ``versions``.
"""

from __future__ import annotations

import json
import math
import platform
import shlex
import xml.etree.ElementTree as ET
from importlib import metadata
from pathlib import Path
from typing import Any

from harness import __version__
from harness.checks import Verdict
from harness.run.runner import RunRecord
from harness.safety import redact_text
from harness.scenario import Scenario

SUMMARY_FORMAT = "harness-summary/1"


def versions() -> dict[str, str]:
    """Versions of the harness and the clients it drove (and Kafka, as pinned)."""
    from harness.stack.layout import KAFKA_VERSION

    found = {"harness": __version__, "python": platform.python_version(), "kafka": KAFKA_VERSION}
    for package in ("aiokafka", "pika", "pandas", "pyarrow"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return found


def summary(
    record: RunRecord,
    verdict: Verdict | None,
    source: Path | None = None,
    *,
    exit_code: int | None = None,
    error: str = "",
) -> dict[str, Any]:
    """The ``summary.json`` object of one run.

    ``exit_code`` is the process's (a harness error is 2 whatever the verdict says); without a
    verdict (the history could not be checked) the checker's fields are absent.
    """
    scenario = record.scenario
    errors = list(verdict.errors) if verdict is not None else []
    if error and error not in errors:
        errors.insert(0, error)
    code = exit_code if exit_code is not None else (verdict.exit_code if verdict else 2)
    return _clean(
        {
            "format": SUMMARY_FORMAT,
            **(verdict.check.to_json() if verdict is not None else {}),
            "passed": code == 0 and verdict is not None and verdict.passed,
            "exit_code": code,
            "thresholds": [c.to_json() for c in verdict.thresholds] if verdict else [],
            "expectations": [c.to_json() for c in verdict.expectations] if verdict else [],
            "engine": [c.to_json() for c in verdict.engine] if verdict else [],
            "rates": _rates(verdict),
            "metrics": verdict.metrics if verdict else {},
            "faults": verdict.faults if verdict else [],
            "errors": [redact_text(e) for e in errors],
            "seed": record.seed,
            "scenario": {
                "name": scenario.name,
                "about": scenario.about.strip(),
                "file": str(source) if source else None,
                "target": scenario.target.kind,
                "consumer": consumer_fact(scenario),
                "duration_s": scenario.storm.duration,
            },
            "run": {
                "id": record.run_id,
                "destination": record.destination,
                "storm_start": record.storm_start,
                "storm_end": record.storm_end,
                "wall_offset": record.wall_offset,
                "events_planned": record.events_planned,
                "processes": record.processes,
                "slip_p99_ms": record.slip_p99_ms,
                "shard_slips": record.shard_slips,
            },
            "versions": versions(),
        }
    )


def _rates(verdict: Verdict | None) -> dict[str, Any] | None:
    """Achieved, offered and released events/s, and whether the engine fell behind."""
    rates = verdict.rates if verdict is not None else None
    if rates is None:
        return None
    return {
        "achieved_per_s": rates.achieved_per_s,
        "offered_per_s": rates.offered_per_s,
        "released_per_s": rates.released_per_s,
        "ack_span_s": rates.span_s,
        "engine_behind": rates.behind,
    }


def consumer_fact(scenario: Scenario) -> str:
    """Who consumed and how, in one line: ``command `python svc.py` (buggy), auto-ack, ...``."""
    sut, consumer = scenario.system_under_test, scenario.consumer
    who = "built-in consumer" if sut.command is None else f"command `{shlex.join(sut.command)}`"
    parts = [f"{who} ({sut.mode or 'correct'})"]
    pubsub = scenario.target.pubsub
    if pubsub is not None and pubsub.push is not None:  # the emulator pushes: no commit, no hand
        return f"built-in push receiver ({sut.mode or 'correct'}), acked by an answer 2xx"
    if scenario.target.rabbitmq is not None:
        parts.append("manual ack" if consumer.manual_ack else "auto-ack")
    parts += [f"commit {consumer.commit}", f"prefetch {consumer.prefetch}"]
    return ", ".join(parts)


def write_summary(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8")


def junit(results: list[tuple[str, Verdict]], elapsed: dict[str, float] | None = None) -> str:
    """JUnit XML: one suite per scenario, one test case per threshold and expectation (and
    one for the checks' validity when the scenario declares no condition)."""
    root = ET.Element("testsuites", name="harness")
    for name, verdict in results:
        cases = verdict.conditions
        suite = ET.SubElement(root, "testsuite", name=name)
        suite.set("time", f"{(elapsed or {}).get(name, 0.0):.3f}")
        failures = 0
        for condition in cases:
            case = ET.SubElement(suite, "testcase", classname=name, name=condition.name)
            if not condition.passed:
                failures += 1
                failure = ET.SubElement(case, "failure", message=f"measured {condition.measured:g}")
                failure.text = f"{condition.name}: measured {condition.measured:g}"
        if not cases:
            case = ET.SubElement(suite, "testcase", classname=name, name="checks valid")
            if not verdict.check.valid:
                failures += 1
                bad = ", ".join(verdict.check.invalidating)
                ET.SubElement(case, "failure", message=f"anomalies: {bad}")
        for error in verdict.errors:
            case = ET.SubElement(suite, "testcase", classname=name, name="harness")
            ET.SubElement(case, "error", message=redact_text(error))
        suite.set("tests", str(len(suite)))
        suite.set("failures", str(failures))
        suite.set("errors", str(len(verdict.errors)))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def junit_error(name: str, message: str) -> str:
    """JUnit XML of a scenario that has no verdict (nothing sent, history unreadable): one
    test case in error, so CI shows the run as broken rather than as absent."""
    root = ET.Element("testsuites", name="harness")
    suite = ET.SubElement(root, "testsuite", name=name, tests="1", failures="0", errors="1")
    case = ET.SubElement(suite, "testcase", classname=name, name="harness")
    ET.SubElement(case, "error", message=redact_text(message))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities become null, numpy scalars plain numbers."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


__all__ = ["SUMMARY_FORMAT", "junit", "junit_error", "summary", "versions", "write_summary"]
