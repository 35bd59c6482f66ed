"""``harness explore SCENARIO``: search the scenario's ``explore:`` envelope on the stack.

Each example is one ``harness run`` of a concrete scenario (``run_one``: faults healed in
``finally``, history and summary kept under ``OUT/runs/<example>-<run>/``). Ctrl-C and
SIGTERM end the run in progress (healed), then the search, and the page and summary are
written with what was found. Exit: 1 a failure was found, 0 none in the budget, 2 set-up
error, 130 interrupted before any failure.
"""

from __future__ import annotations

import argparse
import logging
import math
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from harness.errors import ConfigError, HarnessError
from harness.explore.results import write_results
from harness.explore.search import Runner, RunResult, Search, SearchError, SearchResult
from harness.run.commands import EXIT_INTERRUPTED, _require_healthy, run_one
from harness.run.runner import resolve_seed
from harness.scenario import Scenario, load_scenario, parse_duration, parse_seed
from harness.stack import Stack

DEFAULT_DB = Path(".harness-explore-db")
MAX_EXAMPLES = 10_000
MAX_REPEAT = 20


def register(subparsers: argparse._SubParsersAction) -> None:
    explore = subparsers.add_parser(
        "explore",
        help="search fault schedules in a scenario's explore: envelope and shrink a failure",
        description="Hypothesis draws whole fault schedules inside the scenario's explore: "
        "section; each example is one short real run judged by the scenario's expect and "
        "thresholds. A failure is shrunk (fewer, earlier, shorter faults, simpler targets), "
        "each candidate run --repeat times. Writes OUT/minimal.yaml, OUT/explore.html and "
        "OUT/explore.json. Exit code: 1 a failure was found, 0 none within the budget, 2 "
        "set-up error, 130 interrupted before any failure.",
    )
    explore.add_argument("scenario", type=Path, metavar="SCENARIO")
    explore.add_argument("--budget", default="30m", help="wall-time budget (default 30m)")
    explore.add_argument("--examples", default="100", help="most examples to try (default 100)")
    explore.add_argument("--out", type=Path, help="output folder (default reports/explore-<time>)")
    explore.add_argument("--seed", metavar="N", help="the search's and every run's seed")
    explore.add_argument("--repeat", default="2", help="runs of each shrink candidate (default 2)")
    explore.add_argument(
        "--db",
        type=Path,
        default=DEFAULT_DB,
        help=f"Hypothesis example database directory (default {DEFAULT_DB}/)",
    )
    explore.add_argument("--no-db", action="store_true", help="no example database")
    explore.set_defaults(func=_explore_command)


def _count(text: str, name: str, high: int) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= high:
        raise ConfigError(f"--{name} {text!r} is not a whole number from 1 to {high}.")
    return value


def _budget(text: str) -> float:
    try:
        seconds = parse_duration(text)
    except ValueError as error:
        raise ConfigError(f"--budget: {error}") from None
    if not math.isfinite(seconds) or seconds <= 0 or seconds > 7 * 86400:
        raise ConfigError(f"--budget {text!r} must be longer than 0s and at most 7 days.")
    return seconds


def _explore_command(args: argparse.Namespace) -> int:
    budget = _budget(args.budget)
    examples = _count(args.examples, "examples", MAX_EXAMPLES)
    repeat = _count(args.repeat, "repeat", MAX_REPEAT)
    scenario = load_scenario(args.scenario)
    if scenario.explore is None:
        raise ConfigError(
            f"{args.scenario} has no explore: section; add one (docs/scenario-format.md, "
            "'explore') to say which schedules to search."
        )
    seed = resolve_seed(scenario, None if args.seed is None else parse_seed(args.seed))
    stack = Stack.load()
    _require_healthy(stack, [scenario])
    out = args.out or Path("reports") / time.strftime("explore-%Y%m%d-%H%M%S")
    print(
        f"harness explore: {scenario.name} (seed {seed}, budget {budget:g}s, up to {examples} "
        f"examples, repeat {repeat}) -> {out}",
        file=sys.stderr,
    )
    search = Search(
        scenario,
        live_runner(stack, out),
        budget_s=budget,
        max_examples=examples,
        repeat=repeat,
        seed=seed,
        db=None if args.no_db else args.db,
        progress=lambda line: print(line, file=sys.stderr, flush=True),
    )
    # aiokafka logs every refused connection while a broker is down: that would bury the
    # progress lines; each run's history and summary keep what happened.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        result = search.run()
    except SearchError as error:
        raise HarnessError(f"the first example could not run: {error}") from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    written = write_results(result, out)
    _print_result(result.exit_code, written, result)
    return result.exit_code


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # between runs: end the search like Ctrl-C (nothing to heal)


def live_runner(stack: Stack, out: Path) -> Runner:
    """A runner function running each concrete scenario once on ``stack``."""

    def run(scenario: Scenario, label: str) -> RunResult:
        out_dir = out / "runs" / label
        seed = resolve_seed(scenario, None)
        outcome = run_one(scenario, out_dir, seed, stack, progress=False, report=False)
        signal.signal(signal.SIGTERM, _terminate)  # the run's own handler was removed
        verdict = outcome.verdict
        result = RunResult(
            failed=False, seconds=outcome.seconds, out_dir=str(out_dir), error=outcome.error
        )
        if outcome.exit_code == EXIT_INTERRUPTED:
            # Cut short: the drain did not run, so its verdict (acked, never read) means nothing.
            result.interrupted, result.error = True, outcome.error or "interrupted"
            return result
        if verdict is None:
            result.error = result.error or "the run left nothing to judge"
            return result
        result.metrics = dict(verdict.metrics)
        conditions = verdict.thresholds + verdict.expectations
        failed = [c for c in conditions if not c.passed]
        if not conditions and not verdict.check.valid:
            result.failed, result.reasons = True, ["the checks found anomalies"]
        else:
            result.failed = bool(failed)
            result.reasons = [f"{c.name} (measured {c.measured:g})" for c in failed]
        if not result.error and verdict.errors:
            result.error = "; ".join(verdict.errors)
        return result

    return run


def _print_result(code: int, written: dict[str, Path], result: SearchResult) -> None:
    if result.minimal is not None:
        first = result.first_failure
        print(
            f"FAIL {result.scenario.name}: failure found in {len(result.attempts)} examples "
            f"({result.seconds:.0f}s)\n"
            f"  first failure: {first.schedule.describe() if first else '-'}\n"
            f"  minimal:       {result.minimal.schedule.describe()} "
            f"(failed {result.minimal.failures} of {len(result.minimal.runs)} runs, "
            f"{result.reproduced})\n  replay: harness run {written['minimal']}",
            file=sys.stderr,
        )
    else:
        print(
            f"{'PASS' if code == 0 else 'STOP'} {result.scenario.name}: no failure in "
            f"{len(result.attempts)} examples ({result.seconds:.0f}s, stopped by "
            f"{result.stopped})",
            file=sys.stderr,
        )
    print(f"  page: {written['page']}", file=sys.stderr)


__all__ = ["DEFAULT_DB", "register"]
