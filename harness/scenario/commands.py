"""``harness validate FILE_OR_DIR...``: check scenarios without a stack (pre-commit, CI lint).

Every file is read and validated exactly as ``harness run`` does before it starts anything;
every problem of every file is listed, one per line (``file:line: field: reason``), on stdout.
Exit code: 0 when all are valid, 2 otherwise. ``--format json`` prints one JSON document
(strict: no NaN or Infinity) for tools::

    {"valid": false, "files": [{"file": "scenarios/x.yaml", "valid": false, "name": null,
      "problems": [{"file": "scenarios/x.yaml", "line": 14, "field": "faults[0].kill.target",
                    "reason": "unknown target 'kafka-9' (...)"}]}], "problems": 1}
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from harness.scenario.loader import Checked, check_paths

EXIT_OK = 0
EXIT_INVALID = 2


def register(subparsers: argparse._SubParsersAction) -> None:
    validate = subparsers.add_parser(
        "validate",
        help="check scenario files without a stack",
        description="Validate scenario files and folders of them (every *.yaml and *.yml "
        "below a folder) as `harness run` would, without touching a stack. Lists every "
        "problem of every file. Exit code: 0 all valid, 2 any problem.",
    )
    validate.add_argument("paths", nargs="+", type=Path, metavar="FILE_OR_DIR")
    validate.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="text: one problem per line (default); json: one document for tools",
    )
    validate.set_defaults(func=_validate_command)


def _validate_command(args: argparse.Namespace) -> int:
    checked = check_paths(args.paths)
    if args.format == "json":
        print(json.dumps(as_json(checked), allow_nan=False, ensure_ascii=False, indent=2))
    else:
        for problem in (p for c in checked for p in c.problems):
            print(problem)
    invalid = [c for c in checked if c.problems]
    problems = sum(len(c.problems) for c in checked)
    if args.format == "text":
        summary = (
            f"{len(checked)} scenario file(s) valid"
            if not invalid
            else f"{problems} problem(s) in {len(invalid)} of {len(checked)} file(s)"
        )
        print(f"harness validate: {summary}", file=sys.stderr)
    return EXIT_INVALID if invalid else EXIT_OK


def as_json(checked: list[Checked]) -> dict[str, Any]:
    """The report ``--format json`` prints: per file, its name when valid, else its problems."""
    files = [
        {
            "file": str(c.path),
            "valid": not c.problems,
            "name": c.scenario.name if c.scenario is not None else None,
            "problems": [
                {"file": p.source, "line": p.line, "field": p.field, "reason": p.reason}
                for p in c.problems
            ],
        }
        for c in checked
    ]
    return {
        "valid": all(f["valid"] for f in files),
        "files": files,
        "problems": sum(len(c.problems) for c in checked),
    }


__all__ = ["as_json", "register"]
