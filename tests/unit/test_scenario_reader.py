"""The bounded YAML reader, ``harness validate``, and the scenario rules added for issue 9."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scenario_support import MINIMAL_SCENARIO

from harness.cli import main
from harness.errors import ConfigError
from harness.scenario import (
    build_scenario,
    check_paths,
    load_scenarios,
    parse_scale,
    parse_scenario,
    parse_seed,
)
from harness.scenario.rates import EPS, burst_count
from harness.scenario.reader import MAX_DEPTH, MAX_NODES, read_yaml

VALID = MINIMAL_SCENARIO
BASE = {
    "name": "ok",
    "target": {"kafka": {"topic": "orders"}},
    "storm": {"duration": "60s", "rate": {"per_second": 100}},
}


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_scenario(text, "x.yaml")
    return str(caught.value)


def test_merge_keys_merge_with_explicit_keys_winning_and_lines_kept():
    data, lines = read_yaml("a: &p {b: 1, c: 2}\nd:\n  <<: *p\n  c: 3\n", "x")
    assert data["d"] == {"b": 1, "c": 3}
    assert lines[("d", "c")] == 4


def test_a_list_of_merges_takes_the_earlier_mapping_first():
    data, _ = read_yaml("a: &a {k: 1}\nb: &b {k: 2, j: 2}\nc: {<<: [*a, *b]}\n", "x")
    assert data["c"] == {"k": 1, "j": 2}


def test_merge_of_a_scalar_is_an_error():
    assert "x.yaml:1: not valid YAML: a merge key '<<' takes a mapping" in error_of("a: {<<: 1}\n")


def test_duplicate_key_names_both_lines():
    assert "x.yaml:7: not valid YAML: duplicate key 'name' (first at line 1)" in error_of(
        VALID + "name: again\n"
    )


@pytest.mark.parametrize(
    "tag", ["!!python/object/apply:os.system", "!!python/name:os.getpid", "!!binary", "!custom"]
)
def test_tags_other_than_the_standard_ones_are_refused_not_constructed(tag):
    message = error_of(VALID + f"about: {tag} x\n")
    assert message.startswith("x.yaml:7: the tag ") and "is not allowed" in message


def test_standard_tags_are_read():
    scenario = parse_scenario(VALID + "about: !!str 12\nseed: !!int '7'\n")
    assert (scenario.about, scenario.seed) == ("12", 7)


def test_depth_and_node_bounds_are_checked_as_the_events_arrive():
    assert f"nested more than {MAX_DEPTH} levels" in error_of("a: " + "[" * 40 + "]" * 40)
    flat = "a: [" + ", ".join(["1"] * (MAX_NODES + 5)) + "]\n"
    assert "split it into several" in error_of(flat)
    bomb = "a: &a [x, x, x, x, x, x, x, x]\n" + "".join(
        f"b{i}: &b{i} [" + ", ".join([f"*{'a' if i == 0 else f'b{i - 1}'}"] * 8) + "]\n"
        for i in range(6)
    )
    assert "alias bomb" in error_of(bomb)


def test_second_document_and_bad_encoding(tmp_path):
    assert "holds one YAML document" in error_of(VALID + "---\n" + VALID)
    path = tmp_path / "latin.yaml"
    path.write_bytes(b"name: ok\nabout: caf\xe9\n")
    message = str(pytest.raises(ConfigError, load_scenarios, [path]).value)
    assert (
        message == f"{path}:2: not UTF-8 text (byte b'\\xe9' at offset 19); save the file as UTF-8"
    )


def test_a_folder_named_like_a_scenario_is_skipped(tmp_path):
    (tmp_path / "archive.yaml").mkdir()
    (tmp_path / "archive.yaml" / "old.txt").write_text("x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.yaml").write_text(VALID)
    assert [s.name for s in load_scenarios([tmp_path])] == ["ok"]


@given(st.floats(1e-3, 50), st.floats(1e-2, 500))
def test_burst_count_is_the_length_numpy_would_build(every, duration):
    assert burst_count(every, duration) == len(np.arange(every, duration - EPS, every))


def test_burst_count_of_a_tiny_interval_is_counted_not_built():
    assert burst_count(1e-300, 1e10) == float("inf")


def test_scenario_does_not_import_the_load_stage():
    code = (
        "import sys, harness.scenario, harness.scenario.commands; "
        "print(sorted(m for m in sys.modules if m.startswith('harness.load')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _runtime_imports(module: Path) -> set[str]:
    """Modules imported outside ``if TYPE_CHECKING:`` blocks, functions included."""
    tree = ast.parse(module.read_text(encoding="utf-8"))
    hidden = {
        id(n)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and ast.unparse(block.test) == "TYPE_CHECKING"
        for n in ast.walk(block)
    }
    return {
        node.module or ""
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and id(node) not in hidden
    }


def test_no_lazy_import_cycle_inside_the_scenario_package():
    package = Path(__file__).resolve().parents[2] / "harness" / "scenario"
    assert "harness.scenario.models" not in _runtime_imports(package / "validate.py")
    assert "harness.scenario.models" not in _runtime_imports(package / "rates.py")
    models = ast.parse((package / "models.py").read_text(encoding="utf-8"))
    lazy = [
        n
        for f in ast.walk(models)
        if isinstance(f, ast.FunctionDef)
        for n in ast.walk(f)
        if isinstance(n, ast.Import | ast.ImportFrom)
    ]
    assert lazy == []


def test_load_keeps_expected_count_as_a_re_export():
    from harness.load import expected_count as from_load
    from harness.scenario.rates import expected_count

    assert from_load is expected_count


def test_scaled_validates_again_and_rejects_unusable_scales():
    scenario = build_scenario(BASE)
    assert scenario.scaled(0.5).storm.duration == 30
    for bad in (0, -1, float("nan"), float("inf")):
        with pytest.raises(ConfigError, match="finite number above 0"):
            scenario.scaled(bad)
    with pytest.raises(
        ConfigError, match=r"^ok scaled by 1e\+300: storm.rate: the storm would send"
    ):
        scenario.scaled(1e300)


def test_seed_rule_is_the_same_on_the_command_line_and_in_yaml():
    yaml_message = error_of(VALID + "seed: -1\n")
    with pytest.raises(ConfigError) as cli:
        parse_seed("-1")
    rule = "give a whole number from 0 to 2**63 - 1"
    assert rule in yaml_message and rule in str(cli.value)
    assert parse_seed(" 7 ") == 7 and parse_scale("0.2") == 0.2


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"name": "a" * 101}, "name: the name is 101 characters long; at most 100"),
        ({"target": {"kafka": {"topic": "a/b"}}}, "target.kafka.topic: 'a/b' is not a Kafka topic"),
        ({"target": {"kafka": {"topic": "t" * 250}}}, "at most 249 characters"),
        ({"target": {"kafka": {"topic": "o", "dead_letter_topic": ".."}}}, "reserves '.' and '..'"),
        ({"target": {"rabbitmq": {"queue": "amq.q"}}}, "starts with 'amq.'"),
        ({"target": {"rabbitmq": {"queue": "q" * 252}}}, "at most 251 bytes"),
        ({"thresholds": [{"metric": "p98_ms", "op": "<", "value": 1}]}, "unknown metric 'p98_ms'"),
        ({"thresholds": [{"metric": "p99_ms", "op": "<", "value": float("nan")}]}, "finite"),
        ({"storm": {"duration": "60s", "rate": {"per_second": float("inf")}}}, "finite number"),
        ({"consumer": {"prefetch": 70_000}}, "consumer.prefetch"),
    ],
)
def test_values_the_brokers_or_the_run_would_refuse_are_rejected(change, fragment):
    with pytest.raises(ConfigError, match=None) as caught:
        build_scenario({**BASE, **change})
    assert fragment in str(caught.value)


def test_fault_repetitions_are_bounded_by_arithmetic():
    fault = {"at": "1s", "every": "1ms", "restart": {"target": "kafka-1"}}
    with pytest.raises(
        ConfigError, match=r"faults\[0\].every: this fault would start 59,001 times"
    ):
        build_scenario({**BASE, "faults": [fault]})
    many = [{**fault, "every": "10s", "times": 3}] * 4000
    with pytest.raises(ConfigError, match="12,000 fault occurrences in all"):
        build_scenario({**BASE, "faults": many})


def test_validate_lists_every_problem_as_strict_json(tmp_path, capsys):
    (tmp_path / "good.yaml").write_text(VALID)
    (tmp_path / "bad.yaml").write_text(VALID.replace("60s", "soon").replace("1000", "-1"))
    (tmp_path / "same.yaml").write_text(VALID)
    assert main(["validate", "--format", "json", str(tmp_path)]) == 2
    report = json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(c))
    by_file = {f["file"].rsplit("/", 1)[-1]: f for f in report["files"]}
    assert by_file["good.yaml"]["valid"] and by_file["good.yaml"]["name"] == "ok"
    assert {p["field"] for p in by_file["bad.yaml"]["problems"]} == {
        "storm.duration",
        "storm.rate.per_second",
    }
    assert by_file["same.yaml"]["problems"][0]["field"] == "name"
    assert report["problems"] == 3 and not report["valid"]


def test_validate_text_and_exit_codes(tmp_path, capsys):
    (tmp_path / "good.yaml").write_text(VALID)
    assert main(["validate", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert out == "" and err == "harness validate: 1 scenario file(s) valid\n"
    assert main(["validate", str(tmp_path / "nope.yaml"), str(tmp_path)]) == 2
    out, _ = capsys.readouterr()
    assert out.startswith(f"{tmp_path / 'nope.yaml'}: no such scenario file or directory")
    assert out.count("\n") == 1 and out.endswith("\n")  # one line for the one problem
    assert check_paths([tmp_path])[0].scenario is not None
