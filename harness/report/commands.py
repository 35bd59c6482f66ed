"""``harness report`` and ``harness compare``."""

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
        help="relative tolerance before a change counts as a regression "
        "(default %(default)s, above this machine's run-to-run noise)",
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


def _report(args: argparse.Namespace) -> int:
    from harness.report import render_run, suite
    from harness.run import make_run

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


__all__ = ["register"]
