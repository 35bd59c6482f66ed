"""The run report on synthetic histories: fault bands, impact numbers, escaping, files."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.report import load_run, render_run
from harness.report.plots import bands, latency_chart, throughput_chart
from harness.run import Synthetic, make_run
from harness.run.synthetic import EVIL, history

SPEC = Synthetic(rate=400, seconds=20.0, fault=(8.0, 12.0), lose=3, duplicate=2, evil=True)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = make_run(tmp_path_factory.mktemp("run"), SPEC)
    render_run(folder, step_summary=False)
    return folder


@pytest.fixture(scope="module")
def page(run_dir: Path) -> str:
    return (run_dir / "report.html").read_text(encoding="utf-8")


def expected_impact(spec: Synthetic) -> dict[str, object]:
    """The impact row recomputed here from the raw history, independently of the report."""
    frame = history(spec)
    sends = frame[frame.op == "send"].set_index("id")
    recvs = frame[frame.op == "recv"]
    first = recvs.groupby("id").t.min()
    intended = sends.t_intended.loc[first.index]
    latency = (first - intended).to_numpy()
    at = intended.to_numpy()
    start, end = spec.origin + spec.fault[0], spec.origin + spec.fault[1]
    storm_end = spec.origin + spec.seconds

    def p99(mask: np.ndarray) -> float:
        values = np.sort(latency[mask])
        return round(float(values[int(np.ceil(0.99 * len(values))) - 1]) * 1000, 3)

    def rate(a: float, b: float) -> float:
        return float(((recvs.t >= a) & (recvs.t < b)).sum() / (b - a))

    return {
        "p99": [p99(at < start), p99((at >= start) & (at < end)), p99(at >= end)],
        "rate": [rate(spec.origin, start), rate(start, end), rate(end, storm_end)],
    }


def test_fault_band_is_drawn_where_the_fault_was(run_dir: Path) -> None:
    view = load_run(run_dir)
    faults = bands(view.faults)
    assert [(b.label, b.start, b.end) for b in faults] == [("F1", 8.0, 12.0)]
    for figure in (throughput_chart(view.throughput, faults), latency_chart(view.latency, faults)):
        spans = [p for p in figure.axes[0].patches if p.get_gid() == "fault-F1"]
        assert len(spans) == 1
        span = spans[0]
        assert (span.get_x(), span.get_x() + span.get_width()) == pytest.approx((8.0, 12.0))
        labels = [t.get_text() for t in figure.axes[0].texts]
        assert " F1 latency kafka-2" in labels


def test_fault_strip_in_the_page_has_the_window(page: str) -> None:
    band = re.search(
        r'class="fault-band" data-label="F1" data-start="([\d.]+)" '
        r'data-end="([\d.]+)"',
        page,
    )
    assert band is not None
    assert (float(band[1]), float(band[2])) == (8.0, 12.0)


def test_impact_numbers_equal_those_computed_from_the_history(run_dir: Path, page: str) -> None:
    impact = load_run(run_dir).impacts[0]
    expected = expected_impact(SPEC)
    assert [impact.p99_ms[p] for p in ("before", "during", "after")] == expected["p99"]
    got_rates = [impact.throughput[p] for p in ("before", "during", "after")]
    assert got_rates == pytest.approx(expected["rate"])
    assert (impact.lost, impact.duplicated) == (SPEC.lose, SPEC.duplicate)
    row = re.search(r'<tr id="impact-F1">(.*?)</tr>', page)
    assert row is not None
    cells = re.findall(r"<td class=\"?num[^>]*>([^<]*)</td>", row[1])
    assert cells[1:4] == [f"{v:,.3f}" for v in expected["p99"]]
    assert cells[4:7] == [f"{v:,.1f}" for v in expected["rate"]]
    assert cells[-2:] == [str(SPEC.lose), str(SPEC.duplicate)]


def test_latency_during_the_fault_is_higher_in_the_chart_data(run_dir: Path) -> None:
    frame = load_run(run_dir).latency["corrected"]
    during = frame[(frame.t >= 8.5) & (frame.t < 11.5)]["p99_ms"]
    before = frame[frame.t < 7.5]["p99_ms"]
    assert during.min() > 100 > before.max()


def test_markup_from_events_is_escaped(page: str) -> None:
    assert EVIL not in page
    assert "<script" not in page.lower()
    assert html.escape(EVIL, quote=True) in page  # the key and the error, shown as text


def test_anomaly_examples_link_to_their_key_timeline(run_dir: Path, page: str) -> None:
    summary = json.loads((run_dir / "summary.json").read_text())
    for example in summary["examples"]["lost"]:
        link = re.search(rf'<a href="#(ex-\d+)">{example}</a>', page)
        assert link is not None, example
        section = re.search(rf'<div class=timeline id="{link[1]}"><h3>{example} ', page)
        assert section is not None
    lost_row = re.search(r"<tr><td><code>e3205</code></td>(.*?)</tr>", page)
    assert lost_row is not None and "never" in lost_row[1]


def test_example_timeline_shows_neighbours_of_the_same_key(run_dir: Path) -> None:
    view = load_run(run_dir)
    timeline = next(t for t in view.timelines if t.example == "e3205")
    assert set(timeline.rows["key"].dropna()) == {timeline.key}
    assert timeline.rows["id"][timeline.focus].unique().tolist() == ["e3205"]
    assert len(timeline.rows) > 6


def test_page_is_self_contained(page: str) -> None:
    assert not re.search(r'(src|href)="(?!data:|#)', page)
    assert "http://" not in page and "https://" not in page
    assert page.count("data:image/png;base64,") == 4


def test_files_written_beside_the_report(run_dir: Path) -> None:
    for name in ("throughput.png", "latency.png", "latency-quantiles.png", "lag.png"):
        assert (run_dir / name).read_bytes().startswith(b"\x89PNG")
    assert "FAIL" in (run_dir / "summary.md").read_text()


def test_banner_shows_verdict_conditions_seed_and_versions(page: str) -> None:
    assert '<header class="banner fail">' in page
    assert "<code>p99_ms &lt; 100</code>" in page
    assert "<dt>seed</dt><dd>7</dd>" in page
    assert re.search(r"<dt>versions</dt><dd>harness \d", page)


def test_long_history_is_plotted_per_window(tmp_path: Path) -> None:
    folder = make_run(tmp_path, Synthetic(rate=50, seconds=900.0, fault=(300.0, 360.0)))
    view = load_run(folder)
    assert len(view.throughput) <= 300
    figure = latency_chart(view.latency, bands(view.faults))
    assert max(len(line.get_xdata()) for line in figure.axes[0].get_lines()) <= 300


def test_history_without_summary_is_checked_and_reported(tmp_path: Path) -> None:
    folder = make_run(tmp_path, SPEC)
    (folder / "summary.json").unlink()
    render_run(folder, step_summary=False)
    page = (folder / "report.html").read_text()
    assert "no thresholds declared: the checks found the history invalid" in page
    assert isinstance(load_run(folder).summary["anomalies"]["lost"], int)


def test_throughput_series_counts_every_send(run_dir: Path) -> None:
    view = load_run(run_dir)
    sent = (view.throughput["sent"] * view.window).sum()
    assert sent == SPEC.events
    assert isinstance(view.throughput, pd.DataFrame)
