"""Report parts: window choice, nines curve, Markdown summary and step-summary limit, bench knee."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.checks.latency import Samples
from harness.errors import ConfigError
from harness.report import load_run, markdown, series
from harness.run import Synthetic, make_run, parse_rates
from harness.run.bench import knee, write_page
from harness.run.synthetic import EVIL


def test_window_keeps_charts_to_a_few_hundred_points() -> None:
    assert series.choose_window(60.0) == 0.5
    assert series.choose_window(3600.0) == 15.0
    assert 86_400 / series.choose_window(86_400.0) <= series.TARGET_POINTS


def test_nines_curve_reaches_four_nines_when_the_sample_allows() -> None:
    values = np.arange(1, 100_001) / 1000.0  # 1 ms .. 100 s
    curve = series.nines(Samples(at=np.zeros(len(values)), value=values))
    assert curve["x"].iloc[-1] == pytest.approx(4.0)
    assert curve["ms"].iloc[0] == 1.0
    assert curve["ms"].iloc[-1] == pytest.approx(99_990.0)
    short = series.nines(Samples(at=np.zeros(100), value=values[:100]))
    assert short["x"].iloc[-1] == pytest.approx(2.0)


def test_consumer_lag_counts_acked_not_yet_received(tmp_path: Path) -> None:
    view = load_run(make_run(tmp_path, Synthetic(rate=100, seconds=10.0, lose=5)))
    assert view.lag["lag"].iloc[-1] == 5  # lost events never leave the lag
    assert view.lag["lag"].max() >= 5


def test_markdown_summary_escapes_and_lists_faults(tmp_path: Path) -> None:
    spec = Synthetic(rate=100, seconds=10.0, fault=(3.0, 5.0), lose=2, evil=True)
    text = markdown.render(load_run(make_run(tmp_path, spec)))
    assert text.startswith("### ❌ FAIL · synthetic-latency-fault")
    assert "| ❌ | `p99_ms < 100` |" in text
    assert "| lost | 2 |" in text
    assert "| F1 latency kafka-2 | 3.0–5.0 |" in text
    assert "<script" not in text
    assert markdown.md(EVIL) == '\\<script\\>alert("pwned")\\</script\\>'


def test_step_summary_is_appended_and_kept_under_one_mebibyte(tmp_path: Path) -> None:
    target = tmp_path / "step.md"
    env = {"GITHUB_STEP_SUMMARY": str(target)}
    assert markdown.append_step_summary("first\n", env) == target
    markdown.append_step_summary("x" * (2 * 1024 * 1024), env)
    assert target.stat().st_size <= 1024 * 1024
    assert target.read_text().startswith("first\n")
    assert "summary cut" in target.read_text()
    assert markdown.append_step_summary("ignored", {}) is None


def test_render_run_appends_to_the_step_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.report import render_run

    target = tmp_path / "step.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(target))
    render_run(make_run(tmp_path / "run", Synthetic(rate=50, seconds=5.0)))
    assert target.read_text() == (tmp_path / "run" / "summary.md").read_text()


def aggregated(p99: list[float], received: list[float]) -> pd.DataFrame:
    rates = [1000.0, 2000.0, 4000.0, 8000.0][: len(p99)]
    return pd.DataFrame(
        {
            "rate": rates,
            "received_per_s": received,
            "p50_ms": [v / 3 for v in p99],
            "p99_ms": p99,
            "p99.9_ms": [v * 2 for v in p99],
            "p99.99_ms": [v * 3 for v in p99],
            "lost": 0,
            "run_dir": [f"/x/rate-{r:g}" for r in rates],
        }
    )


def test_knee_is_the_last_rate_that_kept_up() -> None:
    found = knee(aggregated([10, 12, 15, 400], [1000, 2000, 4000, 8000]))
    assert found.rate == 4000.0
    falling_behind = knee(aggregated([10, 12, 15, 18], [1000, 2000, 3000, 3100]))
    assert falling_behind.rate == 2000.0
    assert knee(aggregated([10, 11, 12, 13], [1000, 2000, 4000, 8000])).rate is None
    assert knee(aggregated([10, 500], [1000, 2000])).rate == 1000.0


def test_bench_page_marks_the_knee(tmp_path: Path) -> None:
    frame = aggregated([10, 12, 15, 400], [1000, 2000, 4000, 8000])
    page = write_page(tmp_path, "demo", frame, knee(frame)).read_text()
    assert "knee at 4000/s" in page
    assert (tmp_path / "latency-vs-throughput.png").read_bytes().startswith(b"\x89PNG")
    assert 'href="rate-8000/report.html"' in page


def test_rates_parse_sorted_and_reject_nonsense() -> None:
    assert parse_rates("2000, 1000,5k") == [1000.0, 2000.0, 5000.0]
    with pytest.raises(ConfigError, match="not a rate"):
        parse_rates("fast")


def test_bench_series_records_load_into_pandas(tmp_path: Path) -> None:
    from harness.run.bench import aggregate, write_results
    from harness.run.synthetic import scenario

    spec = Synthetic(rate=100, seconds=6.0)
    record, rows = aggregate(make_run(tmp_path / "rate-100", spec), 100.0)
    path, _ = write_results(tmp_path, scenario(spec), 7, [(record, rows)])
    data = json.loads(path.read_text())
    frame = pd.DataFrame(data["series"])
    assert {"rate", "t", "sent_per_s", "received_per_s", "p99_ms"} <= set(frame.columns)
    assert frame["sent_per_s"].sum() * 0.5 == spec.events
    agg = pd.DataFrame(data["aggregated"])
    assert agg["p99.99_ms"].iloc[0] >= agg["p99_ms"].iloc[0] > 0


def test_a_run_that_recorded_nothing_still_gets_a_report(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from harness.history import SCHEMA
    from harness.report import render_run

    pq.write_table(SCHEMA.empty_table(), tmp_path / "history.parquet")
    page = render_run(tmp_path, step_summary=False).read_text()
    assert "No fault was injected." in page
    assert "<dt>storm</dt>" in page


def test_bench_rate_replaces_the_shape_and_scales_faults_with_the_duration() -> None:
    from harness.run.bench import at_rate
    from harness.scenario import load_scenario

    original = load_scenario(Path(__file__).parents[2] / "scenarios/kafka-latency-spike.yaml")
    stepped = at_rate(original, 300.0, duration=15.0)
    assert (stepped.storm.rate.per_second, stepped.storm.duration) == (300.0, 15.0)
    assert stepped.faults[0].at == pytest.approx(original.faults[0].at / 4)
    assert at_rate(original, 50.0).storm.duration == original.storm.duration


def test_fault_lasting_to_the_storm_end_has_no_measurable_recovery(tmp_path: Path) -> None:
    from harness.report import render_run

    folder = make_run(tmp_path, Synthetic(rate=100, seconds=10.0, fault=(6.0, 10.0)))
    impact = load_run(folder).impacts[0]
    assert not impact.recovery_measurable
    page = render_run(folder, step_summary=False).read_text()
    assert "<td class=num>n/a</td>" in page
    assert "| n/a |" in (folder / "summary.md").read_text()
