"""``harness run`` (scenarios against the stack, with verdicts) and ``harness heal``."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from harness.checks.frame import prepare_file
from harness.errors import ConfigError, HarnessError, StackError
from harness.faults.actions import undo_on_stack
from harness.faults.healing import pending_journals
from harness.run import artifacts
from harness.run.progress import show
from harness.run.runner import RunRecord, RunStatus, resolve_seed, run_scenario
from harness.run.verdict import Verdict, judge
from harness.scenario import Scenario, load_scenarios
from harness.stack import Stack

EXIT_INTERRUPTED = 130


@dataclass
class Outcome:
    """One scenario's result within a suite."""

    scenario: Scenario
    out_dir: Path
    verdict: Verdict | None
    exit_code: int
    seconds: float
    error: str = ""


def register(subparsers: argparse._SubParsersAction) -> None:
    run = subparsers.add_parser(
        "run",
        help="run scenarios against the stack and judge them",
        description="Run one scenario, or a suite (files and folders of YAML scenarios). Every "
        "scenario is validated before anything runs. Exit code: 0 all passed, 1 a threshold "
        "or expectation failed, 2 harness or setup error.",
    )
    run.add_argument("paths", nargs="+", type=Path, metavar="SCENARIO_OR_DIR")
    run.add_argument(
        "--seed", type=int, help="replay with this seed (default: the scenario's or a fresh one)"
    )
    run.add_argument("--out", type=Path, help="output folder (default: reports/run-<time>)")
    run.add_argument(
        "--duration-scale",
        type=float,
        default=1.0,
        metavar="X",
        help="multiply storm durations and fault times by X (e.g. 0.2 for CI)",
    )
    run.add_argument("--no-progress", action="store_true", help="no live progress output")
    run.add_argument("--no-report", action="store_true", help="skip report.html")
    run.set_defaults(func=_run_command)

    heal = subparsers.add_parser(
        "heal",
        help="repair what an interrupted run left behind",
        description="Replays the heal journals of runs that did not finish (remove their "
        "toxics, enable proxies, resume paused and restart dead nodes, stop the systems under "
        "test they started), then sweeps the whole stack: every toxic removed, every proxy "
        "enabled, every node running.",
    )
    heal.set_defaults(func=_heal_command)


def _run_command(args: argparse.Namespace) -> int:
    if args.duration_scale <= 0:
        raise ConfigError(f"--duration-scale must be positive, got {args.duration_scale!r}.")
    scenarios = load_scenarios(args.paths)
    sources = _sources(args.paths)
    if args.duration_scale != 1.0:
        scenarios = [s.scaled(args.duration_scale) for s in scenarios]
    stack = Stack.load()
    _require_healthy(stack, scenarios)
    out = args.out or Path("reports") / time.strftime("run-%Y%m%d-%H%M%S")
    outcomes = []
    for scenario in scenarios:
        out_dir = out if len(scenarios) == 1 else out / scenario.name
        seed = resolve_seed(scenario, args.seed)
        print(f"harness run: {scenario.name} (seed {seed}) -> {out_dir}", file=sys.stderr)
        outcome = run_one(
            scenario,
            out_dir,
            seed,
            stack,
            sources.get(scenario.name),
            progress=not args.no_progress,
            report=not args.no_report,
        )
        outcomes.append(outcome)
        _print_outcome(outcome)
        if outcome.exit_code == EXIT_INTERRUPTED:
            break
    if len(scenarios) > 1:
        _write_suite(out, outcomes)
    return max(o.exit_code for o in outcomes)


def run_one(
    scenario: Scenario,
    out_dir: Path,
    seed: int,
    stack: Stack,
    source: Path | None = None,
    *,
    progress: bool = True,
    report: bool = True,
) -> Outcome:
    """Run, judge and write the artifacts of one scenario; never raises for run failures."""
    started = time.monotonic()
    status = RunStatus()
    record, error, code = None, "", 0
    try:
        record = asyncio.run(_run_async(scenario, out_dir, seed, stack, status, progress))
    except KeyboardInterrupt:
        error, code = "interrupted: faults healed, history kept", EXIT_INTERRUPTED
    except asyncio.CancelledError:
        error, code = "terminated: faults healed, history kept", EXIT_INTERRUPTED
    except HarnessError as failure:
        error, code = str(failure), 2
    history = out_dir / "history.parquet"
    verdict = None
    if history.exists():
        errors = ([error] if error else []) + (record.errors if record else [])
        seconds = (record.storm_end - record.storm_start) if record else scenario.storm.duration
        verdict = judge(
            scenario,
            prepare_file(history),
            storm_seconds=max(seconds, 1e-9),
            slip_p99_ms=record.slip_p99_ms if record else None,
            errors=errors,
        )
        _write_artifacts(out_dir, scenario, seed, record, verdict, source, report)
        code = code or verdict.exit_code
    return Outcome(scenario, out_dir, verdict, code, time.monotonic() - started, error)


async def _run_async(
    scenario: Scenario, out_dir: Path, seed: int, stack: Stack, status: RunStatus, progress: bool
) -> RunRecord:
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        async with show(status, scenario.name, progress):
            return await run_scenario(scenario, out_dir, seed, stack=stack, status=status)
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


def _write_artifacts(
    out_dir: Path,
    scenario: Scenario,
    seed: int,
    record: RunRecord | None,
    verdict: Verdict,
    source: Path | None,
    report: bool,
) -> None:
    if record is None:
        record = RunRecord(
            scenario, seed, "", out_dir / "history.parquet", 0.0, 0.0, 0.0, 0, float("nan"), [], ""
        )
    artifacts.write_summary(out_dir / "summary.json", artifacts.summary(record, verdict, source))
    (out_dir / "junit.xml").write_text(
        artifacts.junit([(scenario.name, verdict)]), encoding="utf-8"
    )
    if report:
        try:
            from harness.report import render_run
        except ImportError:
            return
        render_run(out_dir)


def _write_suite(out: Path, outcomes: list[Outcome]) -> None:
    from harness.report import suite

    judged = [(o.scenario.name, o.verdict) for o in outcomes if o.verdict is not None]
    elapsed = {o.scenario.name: o.seconds for o in outcomes}
    out.mkdir(parents=True, exist_ok=True)
    (out / "junit.xml").write_text(artifacts.junit(judged, elapsed), encoding="utf-8")
    entries = [
        suite.SuiteEntry(
            o.scenario.name,
            o.out_dir,
            o.exit_code,
            o.seconds,
            o.error,
            suite.read_summary(o.out_dir),
        )
        for o in outcomes
    ]
    index = suite.write_index(out, entries)
    print(f"harness run: suite of {len(outcomes)} scenarios:", file=sys.stderr)
    for o in outcomes:
        print(
            f"  {'PASS' if o.exit_code == 0 else 'FAIL'}  {o.scenario.name}  ({o.seconds:.0f}s)",
            file=sys.stderr,
        )
    print(f"  suite page: {index}", file=sys.stderr)


def _print_outcome(outcome: Outcome) -> None:
    verdict = outcome.verdict
    word = "PASS" if outcome.exit_code == 0 else "FAIL"
    lines = [f"{word} {outcome.scenario.name}  ({outcome.seconds:.0f}s, {outcome.out_dir})"]
    if outcome.error:
        lines.append(f"  error: {outcome.error}")
    if verdict is not None:
        found = {k: v for k, v in verdict.check.anomalies.items() if v}
        check = verdict.check
        lines.append(
            f"  delivery guarantee: {check.delivery_guarantee or 'n/a (nothing sent)'}; "
            f"effect guarantee: {check.effect_guarantee or 'n/a (no effect ops)'}; "
            f"anomalies: {found or 'none'}"
        )
        for condition in verdict.thresholds + verdict.expectations:
            mark = "ok  " if condition.passed else "FAIL"
            lines.append(f"  {mark} {condition.name} (measured {condition.measured:g})")
        for error in verdict.errors:
            if error != outcome.error:
                lines.append(f"  error: {error}")
    print("\n".join(lines), file=sys.stderr)


def _sources(paths: list[Path]) -> dict[str, Path]:
    """Scenario name -> file it came from (for the summary)."""
    from harness.scenario import load_scenario

    found: dict[str, Path] = {}
    for path in paths:
        files = sorted(path.glob("*.y*ml")) if path.is_dir() else [path]
        for file in files:
            found[load_scenario(file).name] = file
    return found


def _require_healthy(stack: Stack, scenarios: list[Scenario]) -> None:
    needs_rabbit = any(s.target.rabbitmq is not None for s in scenarios)
    needs_kafka = any(s.target.kafka is not None for s in scenarios)
    for handle in [*stack.nodes.values(), *stack.services.values()]:
        if handle.kind == "rabbitmq" and not needs_rabbit:
            continue
        if handle.kind == "kafka" and not needs_kafka:
            continue
        if not handle.is_healthy():
            raise StackError(
                f"{handle.name} is not healthy (see `harness stack status`, its log "
                f"{handle.log_file}); run `harness heal` or `harness stack up` first."
            )
    for scenario in scenarios:
        kafka = scenario.target.kafka
        if kafka is not None and kafka.replication_factor > len(stack.kafka_nodes()):
            raise StackError(
                f"{scenario.name} needs replication factor {kafka.replication_factor} but the "
                f"stack has {len(stack.kafka_nodes())} broker(s); run "
                "`harness stack up --kafka-brokers 3`."
            )


def _heal_command(args: argparse.Namespace) -> int:
    stack = Stack.load()
    toxiproxy = stack.toxiproxy()
    undoer = undo_on_stack(stack, toxiproxy)
    failures: list[str] = []
    for journal in pending_journals():
        for undo in journal.read():
            try:
                asyncio.run(undoer(undo))
                print(f"healed: {undo.describe()}", file=sys.stderr)
            except HarnessError as error:
                failures.append(f"could not {undo.describe()}: {error}")
        journal.remove()
    for repaired in stack.heal():
        print(f"healed: {repaired}", file=sys.stderr)
    print("healed: every toxic removed, every proxy enabled", file=sys.stderr)
    for failure in failures:
        print(f"harness heal: {failure}", file=sys.stderr)
    return 2 if failures else 0


__all__ = ["Outcome", "register", "run_one"]
