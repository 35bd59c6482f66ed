"""The one entry point: ``harness <command> ...``.

Each command lives beside the code it drives and exposes ``register(subparsers)``; this module
only assembles them, maps deliberate errors to one clear line and exit code 2, and never shows
a traceback for a ``HarnessError``.

Two more exits: a reader that closes the pipe early (``harness check ... | head``) ends the
command quietly with 141 (128 + SIGPIPE, what a shell reports for a process killed by it); and
an exception nobody meant (a bug) prints one line saying so and exits 2, its traceback kept in
``$HARNESS_HOME/crashes/`` (or printed when ``HARNESS_DEBUG=1``).
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import os
import shlex
import signal
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from harness import __version__
from harness.errors import HarnessError
from harness.safety import redact_text

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_ERROR = 2
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE
DEBUG_ENV = "HARNESS_DEBUG"

# Each command and the module that adds it through ``register(subparsers)``. A command line
# imports only its own command's module, so `harness validate` in a pre-commit hook does not pay
# for pandas and matplotlib; `harness --help` (or an unknown command) imports them all.
COMMANDS: dict[str, str] = {
    "validate": "harness.scenario.commands",
    "stack": "harness.stack.commands",
    "check": "harness.checks.commands",
    "history": "harness.history.commands",
    "report": "harness.report.commands",
    "compare": "harness.report.commands",
    "bench": "harness.run.commands",
    "run": "harness.run.commands",
    "heal": "harness.run.commands",
    "explore": "harness.explore.commands",
    "schemas": "harness.schemas.commands",
}
COMMAND_MODULES: tuple[str, ...] = tuple(dict.fromkeys(COMMANDS.values()))


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or only of ``command``'s module when it names one."""
    parser = argparse.ArgumentParser(
        prog="harness",
        description="Chaos and load testing harness for event-driven integrations.",
    )
    parser.add_argument("--version", action="version", version=f"harness {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    modules = [COMMANDS[command]] if command in COMMANDS else COMMAND_MODULES
    for module_name in modules:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    line = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(line[0] if line else None)
    args = parser.parse_args(line)
    try:
        code = int(args.func(args))
        sys.stdout.flush()  # a closed pipe shows here, inside the guard, not at exit
        return code
    except HarnessError as error:
        print(f"harness {args.command}: error: {redact_text(str(error))}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"harness {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except Exception as error:  # the last resort: a bug, said in one line
        return _report_bug(args.command, line, error)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout is not a file (captured, closed)
        pass


def _report_bug(command: str, line: list[str], error: Exception) -> int:
    detail = "".join(traceback.format_exception(error))
    if os.environ.get(DEBUG_ENV) == "1":
        print(detail, file=sys.stderr, end="")
        where = "traceback above"
    else:
        saved = _save_traceback(command, line, detail)
        where = f"traceback in {saved}" if saved else "traceback could not be saved"
    print(
        f"harness {command}: internal error: {type(error).__name__}: {_one_line(error)}; "
        f"this is a bug, please report it with the command line ({where}; "
        f"{DEBUG_ENV}=1 prints it)",
        file=sys.stderr,
    )
    return EXIT_ERROR


def _save_traceback(command: str, line: list[str], detail: str) -> Path | None:
    from harness.stack.layout import harness_home

    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    path = harness_home() / "crashes" / f"{stamp}-{command}.txt"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"harness {shlex.join(line)}\n\n{detail}", encoding="utf-8")
    except OSError:
        return None
    return path


def _one_line(error: Exception) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= 300 else text[:297] + "..."


__all__ = ["EXIT_BROKEN_PIPE", "EXIT_ERROR", "EXIT_FINDINGS", "EXIT_OK", "build_parser", "main"]
