"""The one entry point: ``harness <command> ...``.

Each command lives beside the code it drives and exposes ``register(subparsers)``; this module
only assembles them, maps deliberate errors to one clear line and exit code 2, and never shows
a traceback for a ``HarnessError``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from harness import __version__
from harness.errors import HarnessError
from harness.safety import redact_text

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_ERROR = 2

# Modules that each add one or more sub-commands through ``register(subparsers)``.
COMMAND_MODULES: tuple[str, ...] = (
    "harness.scenario.commands",
    "harness.stack.commands",
    "harness.checks.commands",
    "harness.history.commands",
    "harness.report.commands",
    "harness.run.commands",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="harness",
        description="Chaos and load testing harness for event-driven integrations.",
    )
    parser.add_argument("--version", action="version", version=f"harness {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except HarnessError as error:
        print(f"harness {args.command}: error: {redact_text(str(error))}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"harness {args.command}: interrupted", file=sys.stderr)
        return 130


__all__ = ["EXIT_ERROR", "EXIT_FINDINGS", "EXIT_OK", "build_parser", "main"]
