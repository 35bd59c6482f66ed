"""``harness run`` (scenarios against the stack, with verdicts), ``harness heal`` and
``harness bench`` (one scenario run at stepped rates)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from harness.checks import Verdict, judge, prepare_file
from harness.errors import ConfigError, HarnessError, StackError
from harness.faults import missing_controls, pending_journals, replay, undo_on_stack
from harness.metrics import MetricsHub, parse_metrics_port
from harness.run import artifacts
from harness.run.progress import show
from harness.run.runner import RunRecord, RunStatus, resolve_seed, run_scenario
from harness.safety import redact_text
from harness.scenario import Scenario, load_suite, parse_scale, parse_seed
from harness.stack import Stack, pubsub
from harness.stack.envfile import ENV_VAR, env_path

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
    shards: list[str] = field(default_factory=list)
    """One line per storm shard's schedule slip, and the merged one (a sharded storm)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    _register_bench(subparsers)
    run = subparsers.add_parser(
        "run",
        help="run scenarios against the stack and judge them",
        description="Run one scenario, or a suite (files and folders of YAML scenarios). Every "
        "scenario is validated before anything runs. Exit code: 0 all passed, 1 a threshold "
        "or expectation failed, 2 harness or setup error.",
    )
    run.add_argument("paths", nargs="+", type=Path, metavar="SCENARIO_OR_DIR")
    # Seed and scale are read by the scenario's own rules (one clear line, not argparse's).
    run.add_argument(
        "--seed",
        metavar="N",
        help="replay with this seed, 0..2**63-1 (default: the scenario's or a fresh one)",
    )
    run.add_argument("--out", type=Path, help="output folder (default: reports/run-<time>)")
    run.add_argument(
        "--duration-scale",
        default="1.0",
        metavar="X",
        help="multiply storm durations and fault times by X (e.g. 0.2 for CI)",
    )
    run.add_argument("--no-progress", action="store_true", help="no live progress output")
    run.add_argument("--no-report", action="store_true", help="skip report.html")
    run.add_argument(
        "--processes",
        metavar="N",
        help="send a Kafka storm from N processes, sharded by key (default: the scenario's "
        "load.processes, else the core count)",
    )
    run.add_argument(
        "--metrics-port",
        metavar="PORT",
        help="serve live Prometheus metrics on http://HOST:PORT/metrics while the run goes "
        "(0: any free port; docs/metrics.md)",
    )
    run.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        metavar="HOST",
        help="address /metrics listens on (default 127.0.0.1; any other must be in "
        "HARNESS_ALLOW_HOSTS)",
    )
    run.add_argument(
        "--pushgateway",
        metavar="URL",
        help="also push the metrics to this Prometheus Pushgateway every 10 s and at the end "
        "of each scenario (job 'harness'; for short CI jobs)",
    )
    _env_option(run)
    run.set_defaults(func=_run_command)

    heal = subparsers.add_parser(
        "heal",
        help="repair what an interrupted run left behind",
        description="Replays the heal journals of runs that did not finish (remove their "
        "toxics, enable proxies, resume paused and restart dead nodes, stop the systems under "
        "test they started), then sweeps the whole stack: every toxic removed, every proxy "
        "enabled, every node running. A journal is deleted only once every one of its undos "
        "succeeded; exit 2 says which did not (run it again once the cause is fixed).",
    )
    _env_option(heal)
    heal.set_defaults(func=_heal_command)


def _env_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--env",
        type=Path,
        metavar="FILE",
        help=f"an existing environment's env file (docs/environments.md; default ${ENV_VAR}, "
        "else the stack `harness stack up` started)",
    )


def open_stack(given: Path | None) -> Stack:
    """The stack of ``--env FILE`` (or ``$HARNESS_ENV``), else the recorded local one. The env
    file's path is exported, so processes the run starts (Locust) reach the same stack."""
    path = env_path(given)
    if path is None:
        return Stack.load()
    stack = Stack.open(path)
    os.environ[ENV_VAR] = str(path.resolve())
    return stack


def check_faults_possible(stack: Stack, scenarios: list[Scenario]) -> None:
    """Refuse, before anything runs, faults the environment cannot perform on some node."""
    problems = [p for scenario in scenarios for p in missing_controls(scenario, stack)]
    if len(problems) == 1:
        raise ConfigError(f"The environment cannot perform a fault: {problems[0]}")
    if problems:
        raise ConfigError(
            f"The environment cannot perform {len(problems)} faults:\n  " + "\n  ".join(problems)
        )


def _run_command(args: argparse.Namespace) -> int:
    args.seed = None if args.seed is None else parse_seed(args.seed)
    args.duration_scale = parse_scale(args.duration_scale)
    processes = parse_processes(args.processes)
    suite = load_suite(args.paths)  # the same validation as `harness validate`
    scenarios = [scenario for _, scenario in suite]
    sources = _sources(suite)
    if args.duration_scale != 1.0:
        scenarios = [s.scaled(args.duration_scale) for s in scenarios]
    stack = open_stack(args.env)
    check_faults_possible(stack, scenarios)
    _require_healthy(stack, scenarios)
    out = args.out or Path("reports") / time.strftime("run-%Y%m%d-%H%M%S")
    with _metrics_hub(args) as metrics:
        return _run_suite(args, scenarios, sources, stack, out, processes, metrics)


def _metrics_hub(args: argparse.Namespace) -> contextlib.AbstractContextManager[MetricsHub | None]:
    """The run's ``MetricsHub`` when ``--metrics-port`` or ``--pushgateway`` was given."""
    port = parse_metrics_port(args.metrics_port)
    if port is None and not args.pushgateway:
        return contextlib.nullcontext()
    hub = MetricsHub(host=args.metrics_host, port=port, pushgateway=args.pushgateway)
    if hub.url:
        print(f"harness run: metrics at {hub.url}", file=sys.stderr, flush=True)
    return contextlib.closing(hub)


def _run_suite(
    args: argparse.Namespace,
    scenarios: list[Scenario],
    sources: dict[str, Path],
    stack: Stack,
    out: Path,
    processes: int | None,
    metrics: MetricsHub | None,
) -> int:
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
            processes=processes,
            metrics=metrics,
        )
        outcomes.append(outcome)
        _print_outcome(outcome)
        _print_metrics_warnings(metrics)
        if outcome.exit_code == EXIT_INTERRUPTED:
            break
    if len(scenarios) > 1:
        _write_suite(out, outcomes)
    return max(o.exit_code for o in outcomes)


def _print_metrics_warnings(metrics: MetricsHub | None) -> None:
    """Metrics problems are warnings: the history, not the metrics, is the run's truth."""
    while metrics is not None and metrics.errors:
        print(f"harness run: warning: {metrics.errors.pop(0)}", file=sys.stderr)


def parse_processes(text: str | None) -> int | None:
    """``--processes``: a whole number from 1 to 64, or None when not given."""
    if text is None:
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 64:
        raise ConfigError(f"--processes: {text!r} is not a whole number from 1 to 64; give e.g. 2")
    return value


def run_one(
    scenario: Scenario,
    out_dir: Path,
    seed: int,
    stack: Stack,
    source: Path | None = None,
    *,
    progress: bool = True,
    report: bool = True,
    processes: int | None = None,
    metrics: MetricsHub | None = None,
) -> Outcome:
    """Run, judge and write the artifacts of one scenario; never raises for run failures.

    The exit code is decided before ``summary.json`` is written (and the summary rewritten if
    the report then fails), so the summary's ``exit_code`` is always the process's.
    """
    started = time.monotonic()
    status = RunStatus()
    record, error, code = None, "", 0
    try:
        record = asyncio.run(
            _run_async(scenario, out_dir, seed, stack, status, progress, processes, metrics)
        )
    except KeyboardInterrupt:
        error, code = "interrupted: faults healed, history kept", EXIT_INTERRUPTED
    except asyncio.CancelledError:
        if status.terminated:
            error, code = "terminated: faults healed, history kept", EXIT_INTERRUPTED
        else:  # no SIGTERM arrived: something inside cancelled the run
            error, code = CANCELLED_INSIDE, 2
    except HarnessError as failure:
        error, code = redact_text(str(failure)), 2
    verdict, code, error = conclude(scenario, out_dir, seed, record, code, error, source, report)
    seconds = time.monotonic() - started
    return Outcome(scenario, out_dir, verdict, code, seconds, error, _shard_lines(record))


def _shard_lines(record: RunRecord | None) -> list[str]:
    if record is None or not record.shard_slips:
        return []
    lines = [
        f"storm shard {i}: slip p50 {s['p50_ms']:.2f} ms, p99 {s['p99_ms']:.2f} ms, max "
        f"{s['max_ms']:.1f} ms over {s['count']} events"
        for i, s in enumerate(record.shard_slips)
    ]
    return [*lines, f"all {record.processes} shards: slip p99 {record.slip_p99_ms:.2f} ms"]


def conclude(
    scenario: Scenario,
    out_dir: Path,
    seed: int,
    record: RunRecord | None,
    code: int,
    error: str,
    source: Path | None = None,
    report: bool = True,
) -> tuple[Verdict | None, int, str]:
    """Judge the history a run left and write its artifacts; return the verdict, the final
    exit code and the run's main error. A run without a history has none of these."""
    history = out_dir / "history.parquet"
    if not history.exists():
        return None, code or 2, error or f"The run left no history at {history}."
    verdict = None
    errors = ([error] if error else []) + (record.errors if record else [])
    try:
        if _sends(history) == 0:  # no guarantee can be claimed: judge nothing
            error, code = error or NOTHING_SENT, code or 2
        else:
            verdict = _judge(scenario, history, record, errors)
    except (HarnessError, pa.ArrowException, OSError) as failure:
        error = error or f"The run's history could not be checked: {redact_text(str(failure))}"
        code = code or 2
    code = code or (verdict.exit_code if verdict is not None else 2)
    failed_report = _write_artifacts(
        out_dir, scenario, seed, record, verdict, source, report, code, error
    )
    if failed_report:
        error, code = error or failed_report, max(code, 2)
        if verdict is not None:
            verdict.errors.append(failed_report)
        _write_summary(out_dir, scenario, seed, record, verdict, source, code, error)
    return verdict, code, error


CANCELLED_INSIDE = (
    "The run was cancelled from inside, with no SIGTERM or Ctrl-C: this is a bug, please report "
    "it with the run's folder (faults healed, history kept). It is not counted as interrupted."
)

NOTHING_SENT = (
    "The run sent no event, so there is nothing to judge: no delivery or effect guarantee can "
    "be claimed. Check that the stack answers (`harness stack status`), then run again."
)


def _sends(history: Path) -> int:
    """How many ``send`` rows the history holds (read without preparing it)."""
    ops = pq.read_table(history, columns=["op"]).column("op")
    return int(pc.sum(pc.equal(ops, "send")).as_py() or 0)


def _judge(
    scenario: Scenario, history: Path, record: RunRecord | None, errors: list[str]
) -> Verdict:
    seconds = (record.storm_end - record.storm_start) if record else scenario.storm.duration
    return judge(
        scenario,
        prepare_file(history),
        storm_seconds=max(seconds, 1e-9),
        slip_p99_ms=record.slip_p99_ms if record else None,
        errors=errors,
        events_planned=record.events_planned if record else None,
    )


async def _run_async(
    scenario: Scenario,
    out_dir: Path,
    seed: int,
    stack: Stack,
    status: RunStatus,
    progress: bool,
    processes: int | None = None,
    metrics: MetricsHub | None = None,
) -> RunRecord:
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()

    def terminate() -> None:
        status.terminated = True
        task.cancel()

    loop.add_signal_handler(signal.SIGTERM, terminate)
    try:
        async with show(status, scenario.name, progress):
            return await run_scenario(
                scenario,
                out_dir,
                seed,
                stack=stack,
                status=status,
                processes=processes,
                metrics=metrics,
            )
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


def _write_artifacts(
    out_dir: Path,
    scenario: Scenario,
    seed: int,
    record: RunRecord | None,
    verdict: Verdict | None,
    source: Path | None,
    report: bool,
    exit_code: int,
    error: str = "",
) -> str:
    """Write summary.json, junit.xml and (unless skipped) the report; return why the report
    could not be written, or ``""``."""
    _write_summary(out_dir, scenario, seed, record, verdict, source, exit_code, error)
    junit = (
        artifacts.junit([(scenario.name, verdict)])
        if verdict is not None
        else artifacts.junit_error(scenario.name, error)
    )
    (out_dir / "junit.xml").write_text(junit, encoding="utf-8")
    if not report or verdict is None:
        return ""
    try:
        from harness.report import render_run

        render_run(out_dir)
    except (ImportError, HarnessError, OSError) as failure:
        return (
            f"The report was not written ({redact_text(str(failure))}); the history and "
            f"summary.json are kept in {out_dir}. Fix the cause, then run `harness report "
            f"{out_dir}`."
        )
    return ""


def _write_summary(
    out_dir: Path,
    scenario: Scenario,
    seed: int,
    record: RunRecord | None,
    verdict: Verdict | None,
    source: Path | None,
    exit_code: int,
    error: str,
) -> None:
    if record is None:
        record = RunRecord(
            scenario, seed, "", out_dir / "history.parquet", 0.0, 0.0, 0.0, 0, float("nan"), [], ""
        )
    data = artifacts.summary(record, verdict, source, exit_code=exit_code, error=error)
    artifacts.write_summary(out_dir / "summary.json", data)


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
    if verdict is not None and verdict.metrics.get("sent", 0):  # nothing sent: nothing to claim
        found = {k: v for k, v in verdict.check.anomalies.items() if v}
        check = verdict.check
        lines.append(
            f"  delivery guarantee: {check.delivery_guarantee or 'n/a (nothing sent)'}; "
            f"effect guarantee: {check.effect_guarantee or 'n/a (no effect ops)'}; "
            f"anomalies: {found or 'none'}"
        )
        for condition in verdict.conditions:
            mark = "ok  " if condition.passed else "FAIL"
            lines.append(f"  {mark} {condition.name} (measured {condition.measured:g})")
    lines += [f"  {line}" for line in outcome.shards]
    for error in verdict.errors if verdict is not None else []:
        if error != outcome.error:
            lines.append(f"  error: {error}")
    print("\n".join(lines), file=sys.stderr)


def _sources(suite: list[tuple[Path, Scenario]]) -> dict[str, Path]:
    """Scenario name -> file it came from (for the summary)."""
    return {scenario.name: path for path, scenario in suite}


def _require_healthy(stack: Stack, scenarios: list[Scenario]) -> None:
    needs_rabbit = any(s.target.rabbitmq is not None for s in scenarios)
    needs_kafka = any(s.target.kafka is not None for s in scenarios)
    needs_nats = any(s.target.nats is not None for s in scenarios)
    needs_moto = any(s.target.fanout is not None for s in scenarios)
    needs_pubsub = any(s.target.pubsub is not None for s in scenarios)
    needs_sqs = any(s.target.sqs is not None for s in scenarios)
    needs_oauth = any(s.uses_oauth for s in scenarios)
    for handle in [*stack.nodes.values(), *stack.services.values()]:
        if handle.kind == "rabbitmq" and not needs_rabbit:
            continue
        if handle.kind == "kafka" and not needs_kafka:
            continue
        if handle.kind == "nats" and not needs_nats:
            continue
        if handle.kind == "moto" and not needs_moto:
            continue
        if handle.kind == "pubsub" and not needs_pubsub:
            continue
        if handle.kind == "sqs" and not needs_sqs:
            continue
        if handle.kind == "oauth" and not needs_oauth:
            continue
        if not handle.is_healthy():
            if stack.env is not None:
                raise StackError(
                    f"{handle.name} of {stack.path} does not answer at its address; bring it "
                    f"back (`harness heal --env {stack.path}` runs its resume/restart commands)."
                )
            raise StackError(
                f"{handle.name} is not healthy (see `harness stack status`, its log "
                f"{handle.log_file}); run `harness heal` or `harness stack up` first."
            )
    if needs_moto:
        stack.moto_endpoint  # noqa: B018 - raises, naming `harness stack up --with sns`
    for scenario in scenarios:
        _require_nats(stack, scenario)
        if scenario.uses_oauth and not stack.state.oauth_issuer:
            raise StackError(
                f"{scenario.name} needs the OAuth2 issuer (it sends or verifies bearer tokens "
                "of the stack's issuer) but the stack runs none; run `harness stack up --with oauth` (on a running stack, "
                "that adds it)."
            )
        if scenario.target.pubsub is not None and not stack.state.pubsub_emulator_host:
            raise StackError(
                f"{scenario.name} targets Pub/Sub but the stack runs no emulator; run "
                "`harness stack up --with pubsub` (on a running stack, that adds it)."
            )
        pubsub_node = stack.state.nodes.get("pubsub")
        pushes = scenario.target.pubsub is not None and scenario.target.pubsub.push is not None
        if pushes and pubsub_node is not None and not pubsub.can_push(pubsub_node):
            raise StackError(
                f"{scenario.name} uses a push subscription, but this stack's Pub/Sub server is "
                "the Go pstest fallback, which never pushes. Install the emulator (Debian's "
                "google-cloud-cli-pubsub-emulator, with java), then `harness stack down` and "
                "`harness stack up --with pubsub`."
            )
        if scenario.target.sqs is not None and not stack.state.sqs_endpoint:
            raise StackError(
                f"{scenario.name} targets SQS but the stack runs none; run `harness stack up "
                "--with sqs` (on a running stack, that adds it)."
            )
        kafka = scenario.target.kafka
        if kafka is not None and kafka.replication_factor > stack.kafka_brokers:
            raise StackError(
                f"{scenario.name} needs replication factor {kafka.replication_factor} but the "
                f"stack has {stack.kafka_brokers} broker(s); run "
                "`harness stack up --kafka-brokers 3` (or list every broker in the env file)."
            )


def _require_nats(stack: Stack, scenario: Scenario) -> None:
    nats = scenario.target.nats
    if nats is None:
        return
    nodes = stack.nats_node_count
    if not nodes:
        raise StackError(
            f"{scenario.name} targets NATS but the stack runs none; run `harness stack up "
            "--with nats` (add --nats-nodes 3 for JetStream R3), or give the env file a nats: "
            "section."
        )
    if nats.jetstream and nats.replicas > nodes:
        raise StackError(
            f"{scenario.name} needs a JetStream stream with {nats.replicas} replicas but the "
            f"stack runs {nodes} NATS node(s); run `harness stack down`, then `harness stack "
            "up --with nats --nats-nodes 3`."
        )
    needed = {f.settings.target for f in scenario.faults if hasattr(f.settings, "target")}
    missing = sorted(n for n in needed if isinstance(n, str) and n.startswith("nats-")
                     and n not in stack.nodes)  # fmt: skip
    if missing:
        raise StackError(
            f"{scenario.name} faults {', '.join(missing)}, which this stack does not run; "
            "run `harness stack up --with nats --nats-nodes 3`."
        )


def _heal_command(args: argparse.Namespace) -> int:
    stack = open_stack(args.env)
    failures: list[str] = []
    with stack.toxiproxy() as toxiproxy:
        undoer = undo_on_stack(stack, toxiproxy)
        for journal in pending_journals():
            healed, failed = asyncio.run(replay(journal, undoer))
            for what in healed:
                print(f"healed: {what}", file=sys.stderr)
            failures += failed
    for repaired in stack.heal():
        print(f"healed: {repaired}", file=sys.stderr)
    print("healed: every toxic removed, every proxy enabled", file=sys.stderr)
    for failure in failures:
        print(f"harness heal: {failure}", file=sys.stderr)
    if failures:
        print(
            "harness heal: a journal is kept until every one of its undos succeeded; fix the "
            "cause and run `harness heal` again.",
            file=sys.stderr,
        )
    return 2 if failures else 0


# ``harness bench`` runs scenarios, so it lives with the runner (not in the report stage).
def _register_bench(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="run a scenario at stepped rates; latency versus throughput with the knee",
        description="Run SCENARIO once per rate (constant shape), each a full run with its own "
        "report, then write bench.json (aggregated quantiles and per-window series, loadable "
        "with pandas), latency-vs-throughput.png and bench.html.",
    )
    parser.add_argument("scenario", type=Path, metavar="SCENARIO")
    parser.add_argument("--rates", required=True, help="events per second, e.g. 1000,2000,5000")
    parser.add_argument(
        "--duration", help="storm duration per rate (e.g. 20s); default: the scenario's"
    )
    parser.add_argument("--seed", type=int, help="seed for every rate (default: fresh)")
    parser.add_argument("--out", type=Path, help="output folder (default: reports/bench-<time>)")
    parser.add_argument("--no-progress", action="store_true")
    parser.set_defaults(func=_bench)


def _bench(args: argparse.Namespace) -> int:
    from harness.run.bench import parse_rates, run_bench
    from harness.scenario import load_scenario, parse_duration

    rates = parse_rates(args.rates)
    scenario = load_scenario(args.scenario)
    duration = parse_duration(args.duration) if args.duration else None
    seed = resolve_seed(scenario, args.seed)
    out = args.out or Path("reports") / time.strftime(f"bench-{scenario.name}-%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    path, knee, codes = run_bench(
        scenario, rates, out, seed, duration=duration, progress=not args.no_progress
    )
    print(f"{path}\nknee: {knee.rate if knee.rate is not None else 'none'} ({knee.reason})")
    return 2 if any(code == 2 for code in codes) else 0


__all__ = ["NOTHING_SENT", "Outcome", "conclude", "register", "run_one"]
