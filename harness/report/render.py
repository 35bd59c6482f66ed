"""``render_run``: everything a run folder gets from the report stage.

Writes, beside the run's ``history.parquet`` and ``summary.json``:

- ``report.html``: the self-contained report (charts embedded);
- ``throughput.png``, ``latency.png``, ``latency-quantiles.png``, ``lag.png``: the same charts
  as files, for embedding elsewhere;
- ``service-metrics.png``: with ``service_metrics:``, the service's chosen series under the
  harness's own, fault windows shaded;
- ``summary.md``: the short Markdown summary, also appended to ``$GITHUB_STEP_SUMMARY`` when
  that is set.
"""

from __future__ import annotations

from pathlib import Path

from harness.report import html, markdown, plots
from harness.report.view import RunView, load_run

REPORT_NAME = "report.html"
SUMMARY_NAME = "summary.md"


def charts(view: RunView) -> dict[str, bytes]:
    """The report's charts as PNG bytes, by file name."""
    faults = plots.bands(view.faults)
    drawn = {
        "throughput.png": plots.to_png(plots.throughput_chart(view.throughput, faults)),
        "latency.png": plots.to_png(plots.latency_chart(view.latency, faults)),
        "latency-quantiles.png": plots.to_png(plots.quantile_chart(view.quantiles)),
        "lag.png": plots.to_png(plots.lag_chart(view.lag, faults)),
    }
    if not view.service.empty:
        chart = plots.service_chart(view.throughput, view.lag, view.service, faults)
        drawn["service-metrics.png"] = plots.to_png(chart)
    if view.webhooks:
        status = plots.status_chart(view.webhooks["by_status"], view.window, faults)
        drawn["webhook-status.png"] = plots.to_png(status)
    return drawn


def render_run(run_dir: Path, *, step_summary: bool = True) -> Path:
    """Render the report of the run in ``run_dir``; return the path of ``report.html``.

    ``step_summary=False`` skips the append to ``$GITHUB_STEP_SUMMARY`` (for re-renders).
    """
    run_dir = Path(run_dir)
    view = load_run(run_dir)
    out = view.run_dir
    drawn = charts(view)
    for name, png in drawn.items():
        (out / name).write_bytes(png)
    report = out / REPORT_NAME
    report.write_text(html.render(view, drawn), encoding="utf-8")
    text = markdown.render(view, REPORT_NAME)
    (out / SUMMARY_NAME).write_text(text, encoding="utf-8")
    if step_summary:
        markdown.append_step_summary(text)
    return report


__all__ = ["REPORT_NAME", "SUMMARY_NAME", "charts", "render_run"]
