"""``harness report``, ``harness compare`` and ``harness bench``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from harness.errors import ConfigError

EXIT_OK, EXIT_REGRESSION = 0, 1


def register(subparsers: argparse._SubParsersAction) -> None:
    _register_report(subparsers)
    _register_compare(subparsers)
    _register_bench(subparsers)


def _register_report(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help="render report.html, PNG charts and summary.md of run folders",
        description="Render (again) the report of each run folder: report.html (self-contained), "
        "the charts as PNG, and summary.md (appended to $GITHUB_STEP_SUMMARY when set). A "
        "folder with a history but no summary.json is checked here first. A suite folder (run "
        "folders inside) gets its index.html redrawn.",
    )
    parser.add_argument("runs", nargs="*", type=Path, metavar="RUN_DIR")
    parser.add_argument(
        "--demo", type=Path, metavar="DIR", help="write a synthetic run into DIR and report it"
    )
    parser.add_argument(
        "--no-step-summary", action="store_true", help="do not append to $GITHUB_STEP_SUMMARY"
    )
    parser.set_defaults(func=_report)


def _register_compare(subparsers: argparse._SubParsersAction) -> None:
    from harness.report.compare import DEFAULT_TOLERANCE

    parser = subparsers.add_parser(
        "compare",
        help="compare a candidate run (or set of runs) with a baseline; flag regressions",
        description="Compare p50/p99/p99.9, throughput, recovery time and anomaly counts. Each "
        "side is a run folder or a folder of run folders (medians are compared). Exit 1 when a "
        "metric is worse than the tolerance allows, 0 otherwise.",
    )
    parser.add_argument("baseline", type=Path, metavar="BASELINE")
    parser.add_argument("candidate", type=Path, metavar="CANDIDATE")
    parser.add_argument(
        "--fail-on-regression",
        default=f"{DEFAULT_TOLERANCE:.0%}",
        metavar="PCT",
        help=f"relative tolerance before a change counts as a regression "
        f"(default {DEFAULT_TOLERANCE:.0%}, above this machine's run-to-run noise)",
    )
    parser.add_argument(
        "--export-benchmark-json",
        type=Path,
        metavar="FILE",
        help="write the candidate's figures as github-action-benchmark customSmallerIsBetter",
    )
    parser.add_argument(
        "--html", type=Path, metavar="FILE", help="comparison page (default CANDIDATE/compare.html)"
    )
    parser.set_defaults(func=_compare)


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


def _report(args: argparse.Namespace) -> int:
    from harness.report import render_run, suite
    from harness.report.synthetic import make_run

    runs = list(args.runs)
    if args.demo is not None:
        runs.append(make_run(args.demo, lose=3, duplicate=2, evil=True))
    if not runs:
        raise ConfigError("give at least one RUN_DIR (or --demo DIR)")
    for run in runs:
        if suite.is_suite_folder(run):
            print(suite.write_index(run, suite.entries_from_folder(run)))
            continue
        path = render_run(run, step_summary=not args.no_step_summary)
        print(path)
    return EXIT_OK


def _compare(args: argparse.Namespace) -> int:
    from harness.report import compare, compare_html

    tolerance = compare.parse_tolerance(args.fail_on_regression)
    baseline = compare.load_side(args.baseline, "baseline")
    candidate = compare.load_side(args.candidate, "candidate")
    if baseline.scenario != candidate.scenario:
        print(
            f"harness compare: warning: comparing different scenarios "
            f"({baseline.scenario!r} vs {candidate.scenario!r})",
            file=sys.stderr,
        )
    rows = compare.compare(baseline, candidate, tolerance)
    print(compare.text_table(baseline, candidate, rows))
    page = args.html or (candidate.runs[0] if len(candidate.runs) == 1 else args.candidate)
    page = page / "compare.html" if page.is_dir() else page
    page.write_text(compare_html.render(baseline, candidate, rows, tolerance), encoding="utf-8")
    print(f"\ncomparison page: {page}")
    if args.export_benchmark_json is not None:
        entries = compare.benchmark_json(candidate)
        args.export_benchmark_json.write_text(json.dumps(entries, indent=2) + "\n")
    regressions = [r.metric.name for r in rows if r.regressed]
    if regressions:
        print(f"REGRESSION beyond {tolerance:.0%}: {', '.join(regressions)}")
        return EXIT_REGRESSION
    print(f"no regression beyond {tolerance:.0%}")
    return EXIT_OK


def _bench(args: argparse.Namespace) -> int:
    import time

    from harness.report.bench import parse_rates, run_bench
    from harness.run.runner import resolve_seed
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
    return 2 if any(code == 2 for code in codes) else EXIT_OK


__all__ = ["register"]
