"""``harness check HISTORY [--format text|json] [--allow NAME ...] [--deny NAME ...]``.

With ``--format json`` stdout always holds one strict JSON document: the result, or
``{"valid": null, "error": "..."}`` when the history is unusable (exit 2; the error is also the
one line on stderr).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from harness.checks.core import check_file
from harness.checks.model import ANOMALIES
from harness.checks.policy import CheckPolicy
from harness.checks.text import render
from harness.errors import HarnessError
from harness.safety import redact_text

EXIT_VALID, EXIT_ANOMALIES = 0, 1


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "check",
        help="check a history for lost, duplicated, reordered and dead-lettered events",
        description=(
            "Check a history (.parquet, .jsonl/.json or a leftover .partial.arrows). "
            "Exit 0 when valid, 1 when anomalies the policy does not allow were found, "
            "2 when the history is unusable."
        ),
    )
    parser.add_argument("history", type=Path, help="the history file")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="NAME",
        choices=ANOMALIES,
        help="report this anomaly without failing (default allows duplicate_delivery, recovered)",
    )
    parser.add_argument(
        "--deny",
        action="append",
        default=[],
        metavar="NAME",
        choices=ANOMALIES,
        help="fail on this anomaly even if allowed by default",
    )
    parser.add_argument("--examples", type=int, default=5, help="example ids per anomaly")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    policy = CheckPolicy(max_examples=args.examples).allowing(args.allow).denying(args.deny)
    try:
        result = check_file(args.history, policy)
    except HarnessError as error:
        if args.format == "json":  # a tool reading stdout gets a document even when unusable
            print(json.dumps({"valid": None, "error": redact_text(str(error))}, indent=2))
        raise
    if args.format == "json":
        print(json.dumps(result.to_json(), indent=2, allow_nan=False))
    else:
        print(render(result))
    return EXIT_VALID if result.valid else EXIT_ANOMALIES


__all__ = ["register", "run"]
