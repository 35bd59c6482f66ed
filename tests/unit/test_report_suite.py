"""The suite page: verdict tally, figures from each run's summary.json, links, escaping."""

from __future__ import annotations

import html
import json
from pathlib import Path

import pytest

from harness.report import suite


def _run(folder: Path, name: str, *, passed: bool, lost: int = 0, about: str = "") -> Path:
    run_dir = folder / name
    run_dir.mkdir(parents=True)
    summary = {
        "scenario": {"name": name, "about": about},
        "delivery_guarantee": "at-most-once" if lost else "exactly-once",
        "effect_guarantee": None,
        "anomalies": {"lost": lost, "duplicate_delivery": 0, "duplicate_effect": 0,
                      "out_of_order": 3},
        "metrics": {"sent": 1000, "received": 1000 - lost, "p99_ms": 1500.0, "recovery_s": 2.5},
        "thresholds": [{"condition": "lost == 0", "passed": passed}],
        "expectations": [],
        "errors": [],
        "exit_code": 0 if passed else 1,
        "passed": passed,
    }  # fmt: skip
    (run_dir / "summary.json").write_text(json.dumps(summary))
    (run_dir / "report.html").write_text("<html></html>")
    return run_dir


def test_page_tallies_verdicts_and_shows_each_runs_figures(tmp_path: Path) -> None:
    _run(tmp_path, "good", passed=True)
    _run(tmp_path, "bad", passed=False, lost=17)
    assert suite.is_suite_folder(tmp_path)
    entries = suite.entries_from_folder(tmp_path)
    assert [(e.name, e.exit_code) for e in entries] == [("bad", 1), ("good", 0)]
    page = suite.write_index(tmp_path, entries).read_text()
    assert "FAIL" in page.split("</header>")[0] and "1 of 2 scenarios passed" in page
    assert '<a href="./bad/report.html">bad</a>' in page
    assert '<td class="num bad">17</td>' in page
    assert "out_of_order 3" in page
    assert "1.50 s" in page and "2.5 s" in page
    assert "0 of 1 met" in page and "lost == 0" in page


def test_a_run_without_summary_still_gets_a_row_with_its_error(tmp_path: Path) -> None:
    entries = [
        suite.SuiteEntry("crashed", tmp_path / "crashed", 2, 3.0, "broker unreachable <kafka-1>")
    ]
    page = suite.render(tmp_path, entries)
    assert "FAIL" in page and "0 of 1 scenarios passed in 3 s" in page
    assert "error: broker unreachable &lt;kafka-1&gt;" in page
    assert 'href="' not in page


def test_text_from_the_summary_is_escaped(tmp_path: Path) -> None:
    _run(tmp_path, "evil", passed=True, about="<script>alert(1)</script> runs. More.")
    page = suite.render(tmp_path, suite.entries_from_folder(tmp_path))
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; runs" in page


def test_a_run_folder_is_not_a_suite_folder(tmp_path: Path) -> None:
    run_dir = _run(tmp_path, "one", passed=True)
    assert not suite.is_suite_folder(run_dir)
    assert not suite.is_suite_folder(tmp_path / "missing")


def test_a_suite_run_writes_junit_and_the_page_beside_its_runs(tmp_path: Path, capsys) -> None:
    from harness.run.commands import Outcome, _write_suite
    from harness.scenario import load_scenario

    scenarios = Path(__file__).parents[2] / "scenarios"
    ok = load_scenario(scenarios / "kafka-latency-spike.yaml")
    broken = load_scenario(scenarios / "poison-events-dlq.yaml")
    _run(tmp_path, ok.name, passed=True)
    outcomes = [
        Outcome(ok, tmp_path / ok.name, None, 0, 61.0),
        Outcome(broken, tmp_path / broken.name, None, 2, 4.0, "Toxiproxy API unreachable"),
    ]
    _write_suite(tmp_path, outcomes)
    page = (tmp_path / "index.html").read_text()
    assert (tmp_path / "junit.xml").is_file()
    assert "1 of 2 scenarios passed in 1 min 5 s" in page
    assert "error: Toxiproxy API unreachable" in page
    assert f"suite page: {tmp_path / 'index.html'}" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("folder", "href"),
    [
        ("javascript:alert(1)", "./javascript%3Aalert%281%29/report.html"),
        ('x" onmouseover="alert(1)', "./x%22%20onmouseover%3D%22alert%281%29/report.html"),
        ("<script>alert(1)", "./%3Cscript%3Ealert%281%29/report.html"),
        ("data:text,hi", "./data%3Atext%2Chi/report.html"),
        ("it's & more", "./it%27s%20%26%20more/report.html"),
    ],
)
def test_hostile_folder_names_become_quoted_relative_links(
    tmp_path: Path, folder: str, href: str
) -> None:
    run_dir = _run(tmp_path, folder, passed=True)
    assert suite.report_link(tmp_path, run_dir) == href
    page = suite.render(tmp_path, suite.entries_from_folder(tmp_path))
    assert f'<a href="{html.escape(href)}">' in page
    assert "<script>" not in page and 'href="javascript' not in page
    assert '" onmouseover' not in page


def test_reports_outside_the_suite_get_no_link(tmp_path: Path) -> None:
    suite_dir, elsewhere = tmp_path / "suite", tmp_path / "elsewhere"
    suite_dir.mkdir()
    outside = _run(tmp_path, "elsewhere", passed=True)
    (suite_dir / "linked").symlink_to(outside, target_is_directory=True)
    dotted = suite_dir / ".." / "elsewhere"
    no_report = suite_dir / "no-report"
    no_report.mkdir()
    assert suite.report_link(suite_dir, suite_dir / "linked") is None
    assert suite.report_link(suite_dir, dotted) is None
    assert suite.report_link(suite_dir, no_report) is None
    assert suite.report_link(suite_dir, elsewhere) is None
    entries = [suite.SuiteEntry(n, p, 0) for n, p in [("a", dotted), ("b", suite_dir / "linked")]]
    assert "href=" not in suite.render(suite_dir, entries)
