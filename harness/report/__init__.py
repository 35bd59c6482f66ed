"""Reports: a run folder in, ``report.html`` + PNG charts + ``summary.md`` out.

    from harness.report import render_run
    render_run(Path("reports/kafka-latency-spike-1234"))   # -> .../report.html

``harness report RUN_DIR...`` re-renders folders; ``harness compare`` sets two runs side by
side and gates on regressions; ``harness bench`` steps a scenario through rates.
"""

from harness.report.render import REPORT_NAME, SUMMARY_NAME, render_run
from harness.report.view import RunView, load_run

__all__ = ["REPORT_NAME", "SUMMARY_NAME", "RunView", "load_run", "render_run"]
