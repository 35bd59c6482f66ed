"""``service_metrics:``: validation with file and line, choosing samples from a scrape, and the
report's series and chart built from the scraped file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scenario_support import MINIMAL_SCENARIO

from harness.errors import ConfigError
from harness.metrics.scrape import FILE_NAME, SCHEMA, select
from harness.report import plots
from harness.report.service import service_series
from harness.scenario import parse_scenario
from harness.scenario.service_metrics import parse_selector

GOOD = """\
service_metrics:
  url: http://127.0.0.1:9464/metrics
  every: 500ms
  series: [consumer_lag, 'errors_total{kind="timeout"}']
"""

SCRAPE = """\
# HELP errors_total Errors.
# TYPE errors_total counter
errors_total{kind="timeout"} 3.0
errors_total{kind="refused"} 5.0
# HELP consumer_lag Lag.
# TYPE consumer_lag gauge
consumer_lag{partition="0"} 7.0
consumer_lag{partition="1"} 2.0
# HELP other Other.
# TYPE other gauge
other 1.0
"""


def test_a_valid_section_parses():
    scenario = parse_scenario(MINIMAL_SCENARIO + GOOD)
    assert scenario.service_metrics is not None
    assert scenario.service_metrics.every == 0.5
    assert scenario.service_metrics.series[1] == 'errors_total{kind="timeout"}'


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("url", "http://10.0.0.8:9464/metrics", "HARNESS_ALLOW_HOSTS"),
        ("url", "ftp://127.0.0.1/metrics", "must be an http:// URL"),
        ("url", "http://127.0.0.1:99999/metrics", "port that is not a number"),
        ("every", "50ms", "greater than or equal to 0.2"),
        ("series", "['lag{x=1}']", "not a metric name"),
        ("series", "[lag, lag]", "twice"),
        ("series", "[]", "at least 1"),
    ],
)
def test_a_bad_field_is_one_message_naming_line_and_field(field: str, value: str, message: str):
    lines = {"url": "http://127.0.0.1:9464/metrics", "every": "1s", "series": "[lag]"}
    lines[field] = value
    text = (
        MINIMAL_SCENARIO + "service_metrics:\n" + "".join(f"  {k}: {v}\n" for k, v in lines.items())
    )
    line = 8 + list(lines).index(field)
    with pytest.raises(ConfigError) as caught:
        parse_scenario(text, "s.yaml")
    assert f"s.yaml:{line}: service_metrics.{field}" in str(caught.value)
    assert message in str(caught.value)


def test_the_allow_list_admits_another_host(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HARNESS_ALLOW_HOSTS", "metrics.internal")
    text = MINIMAL_SCENARIO + GOOD.replace("127.0.0.1", "metrics.internal")
    assert parse_scenario(text).service_metrics is not None


def test_selectors_choose_by_name_and_exact_labels():
    assert parse_selector('errors_total{kind="timeout"}') == ("errors_total", {"kind": "timeout"})
    rows = select(SCRAPE, ["consumer_lag", 'errors_total{kind="timeout"}', "errors"], t=5.0)
    got = {(r["series"], r["labels"]): r["value"] for r in rows}
    assert got == {
        ("consumer_lag", 'partition="0"'): 7.0,
        ("consumer_lag", 'partition="1"'): 2.0,
        ('errors_total{kind="timeout"}', 'kind="timeout"'): 3.0,
        ("errors", 'kind="refused"'): 5.0,  # a counter chosen by its family name
        ("errors", 'kind="timeout"'): 3.0,
    }
    assert {r["type"] for r in rows} == {"gauge", "counter"}


def _scraped(tmp_path: Path) -> Path:
    rows = [
        {"t": 100.0 + i, "series": "errors_total", "labels": "", "type": "counter", "value": v}
        for i, v in enumerate([0.0, 10.0, 30.0, 5.0])  # the last: a counter reset
    ] + [
        {"t": 100.0 + i, "series": "lag", "labels": 'p="0"', "type": "gauge", "value": v}
        for i, v in enumerate([1.0, 4.0])
    ]
    pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), tmp_path / FILE_NAME)
    return tmp_path


def test_counters_become_rates_and_gauges_stay_values(tmp_path: Path):
    frame = service_series(_scraped(tmp_path), origin=100.0)
    errors = frame[frame.line == "errors_total (/s)"]
    assert errors.value.tolist() == [10.0, 20.0]  # the reset's fall is dropped
    lag = frame[frame.line == 'lag {p="0"}']
    assert lag.t.tolist() == [0.0, 1.0] and lag.value.tolist() == [1.0, 4.0]
    assert service_series(tmp_path / "none", 0.0).empty


def test_the_chart_shades_fault_windows_on_both_panels(tmp_path: Path):
    frame = service_series(_scraped(tmp_path), origin=100.0)
    own = pd.DataFrame({"t": [0.0, 1.0, 2.0], "received": [5.0, 6.0, 7.0]})
    lag = pd.DataFrame({"t": [0.0, 1.0, 2.0], "lag": [0.0, 3.0, 0.0]})
    band = plots.Band("F1", "toxic.latency kafka-1", 0.5, 1.5)
    figure = plots.service_chart(own, lag, frame, [band])
    shaded = [p for ax in figure.axes for p in ax.patches if p.get_gid() == "fault-F1"]
    assert len(figure.axes) == 2 and len(shaded) == 2
    assert plots.to_png(figure)[:4] == b"\x89PNG"
