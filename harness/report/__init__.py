"""Reports: a run folder in, ``report.html`` + PNG charts + ``summary.md`` out.

    from harness.report import render_run
    render_run(Path("reports/kafka-latency-spike-1234"))   # -> .../report.html

``harness report RUN_DIR...`` re-renders folders; ``harness compare`` sets two runs side by
side and gates on regressions (``load_side``, ``parse_tolerance``, ``benchmark_json``);
``write_index`` draws a suite's ``index.html``. ``esc`` and ``CSS`` let other pages (the bench
page) look like the report and escape what they show.
"""

from harness.report.compare import (
    DEFAULT_TOLERANCE,
    Side,
    benchmark_json,
    load_side,
    parse_tolerance,
)
from harness.report.html import esc
from harness.report.render import REPORT_NAME, SUMMARY_NAME, render_run
from harness.report.style import CSS
from harness.report.suite import SuiteEntry, write_index
from harness.report.view import RunView, load_run

__all__ = [
    "CSS",
    "DEFAULT_TOLERANCE",
    "REPORT_NAME",
    "SUMMARY_NAME",
    "RunView",
    "Side",
    "SuiteEntry",
    "benchmark_json",
    "esc",
    "load_run",
    "load_side",
    "parse_tolerance",
    "render_run",
    "write_index",
]
