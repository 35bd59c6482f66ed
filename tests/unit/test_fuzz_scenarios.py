"""Fuzzing the scenario loader: any input ends in a Scenario or one ConfigError, quickly.

Mutations of the shipped scenarios (fields dropped, replaced, retyped; huge, NaN, infinite and
negative numbers; unicode; deep nesting; aliases; bad bytes) and every reproduction of issue 9
as a literal example. The law: loading ends in success or ``ConfigError`` (the CLI: exit 0 or
2, one line on stderr, never a traceback), within ``SECONDS`` and ``PEAK_BYTES``.
"""

from __future__ import annotations

import contextlib
import io
import math
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML
from scenario_support import MINIMAL_SCENARIO

from harness.cli import main
from harness.errors import ConfigError
from harness.scenario import Scenario, build_scenario, load_scenario, parse_scenario
from harness.scenario.reader import MAX_BYTES, read_yaml

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
SHIPPED = sorted(SCENARIOS.glob("*.yaml"))
TEXTS = [p.read_text(encoding="utf-8") for p in SHIPPED]
DATA = [read_yaml(t, "shipped")[0] for t in TEXTS]
SECONDS = 2.0
PEAK_BYTES = 200_000_000
FAST = settings(
    max_examples=60,
    deadline=None,  # the time bound is asserted by `bounded`, with a clear message
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

VALID = MINIMAL_SCENARIO
RATE = "shape: constant, per_second: 1000"


def _bomb(levels: int, width: int = 10) -> str:
    names = [f"l{i}" for i in range(levels + 1)]
    lines = [f"{names[0]}: &{names[0]} [" + ", ".join(["x"] * width) + "]"]
    for prev, name in zip(names, names[1:], strict=False):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * width) + "]")
    return "\n".join(lines) + "\n"


REPRODUCTIONS: dict[str, bytes] = {
    "latin-1": b"name: caf\xe9\n",
    "invalid utf-8 in a value": VALID.encode() + b"about: \xff\xfe\x00\n",
    "merge key": (VALID + "x: &p {b: 1}\nc: {<<: *p}\n").encode(),
    "python tag": (VALID + "about: !!python/object/apply:os.system [echo pwned]\n").encode(),
    "python name tag": (VALID + "seed: !!python/name:os.getpid\n").encode(),
    "nesting 250 deep": ("name: " + "[" * 250 + "]" * 250 + "\n").encode(),
    "nesting 250 deep, block": "".join(f"{' ' * i}a:\n" for i in range(250)).encode(),
    "alias bomb": _bomb(7).encode(),
    "fault times 10**12": (
        VALID + "faults:\n  - {at: 1s, every: 2s, times: 1000000000000, "
        "pause: {target: kafka-1}, resume_after: 1s}\n"
    ).encode(),
    "fault every 1ns": (
        VALID + "faults:\n  - {at: 1s, every: 0.000000001, restart: {target: kafka-1}}\n"
    ).encode(),
    "burst every 1ns": VALID.replace(
        RATE, "shape: burst, burst_every: 0.000000001, burst_size: 1"
    ).encode(),
    "spike factor inf": VALID.replace(
        RATE, "shape: spike, per_second: 10, spike_at: 1s, spike_for: 0s, spike_factor: .inf"
    ).encode(),
    "threshold map with unknown metric": (
        VALID + "thresholds:\n  - {metric: p98_ms, op: '<', value: 1}\n"
    ).encode(),
    "threshold value nan": (
        VALID + "thresholds:\n  - {metric: p99_ms, op: '<', value: .nan}\n"
    ).encode(),
    "seed -1": (VALID + "seed: -1\n").encode(),
    "name of 300 characters": VALID.replace("name: ok", "name: " + "a" * 300).encode(),
    "kafka topic with a space": VALID.replace("topic: orders", "topic: 'or ders'").encode(),
    "kafka topic '..'": VALID.replace("topic: orders", "topic: '..'").encode(),
    "amqp queue of 300 bytes": (
        "name: q\ntarget:\n  rabbitmq: {queue: " + "é" * 150 + "}\n"
        "storm: {duration: 10s, rate: {per_second: 10}}\n"
    ).encode(),
    "int of 5000 digits": (VALID + "seed: " + "9" * 5000 + "\n").encode(),
    "two documents": (VALID + "---\n" + VALID).encode(),
    "file over 1 MB": VALID.encode() + b"#" * (MAX_BYTES + 10) + b"\n",
    "NUL byte": VALID.encode() + b"about: a\x00b\n",
    "recursive alias": b"a: &a [*a]\n",
    "duration 1e300 with a tiny rate": VALID.replace("60s", "1e300")
    .replace("1000", "1e-300")
    .encode()
    + b"faults:\n  - {at: 1s, every: 1s, restart: {target: kafka-1}}\n",
}
# Valid scenarios the loader must accept (merge keys are YAML, and sub-keys merge).
ACCEPTED: dict[str, bytes] = {
    "merge into a field": VALID.replace(
        "kafka: {topic: orders, partitions: 6}",
        "kafka: {<<: {topic: orders}, partitions: 6}",
    ).encode(),
    "utf-8 BOM": b"\xef\xbb\xbf" + VALID.encode(),
}


def bounded(load: Any) -> Scenario | ConfigError:
    """Run ``load()`` and return its result or ConfigError, asserting the time and memory
    bounds; any other exception fails the test."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        result: Scenario | ConfigError = load()
    except ConfigError as error:
        result = error
    finally:
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert elapsed < SECONDS * 2, f"took {elapsed:.2f}s (tracemalloc on)"
    assert peak < PEAK_BYTES, f"peak {peak / 1e6:.0f} MB"
    return result


def one_problem_per_line(error: ConfigError) -> None:
    text = str(error)
    assert text and "Traceback" not in text
    for line in text.splitlines()[1:]:
        assert line.startswith("  "), text[:500]


@pytest.mark.parametrize("data", list(REPRODUCTIONS.values()), ids=list(REPRODUCTIONS))
def test_each_reproduction_is_one_clear_error(tmp_path, data):
    path = tmp_path / "x.yaml"
    path.write_bytes(data)
    result = bounded(lambda: load_scenario(path))
    assert isinstance(result, ConfigError), "accepted an invalid scenario"
    one_problem_per_line(result)
    assert str(path) in str(result)


@pytest.mark.parametrize("data", list(ACCEPTED.values()), ids=list(ACCEPTED))
def test_valid_yaml_features_are_accepted(tmp_path, data):
    path = tmp_path / "x.yaml"
    path.write_bytes(data)
    assert bounded(lambda: load_scenario(path)).target.kafka.topic == "orders"


# --- mutations of the shipped scenarios -------------------------------------------------

WEIRD_NUMBERS = st.sampled_from(
    [
        0,
        -1,
        -(10**12),
        10**12,
        10**30,
        2**63,
        1e300,
        -1e300,
        1e-300,
        1e-9,
        math.nan,
        math.inf,
        -math.inf,
        0.5,
        -0.0,
    ]
)
WEIRD_TEXT = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        ["", " ", "1s", "-1s", "1e9h", "0ms", "nan", "all", "kafka-9", "é" * 300, "\u202e"]
    ),
)
LEAF = st.one_of(st.none(), st.booleans(), WEIRD_NUMBERS, st.integers(), st.floats(), WEIRD_TEXT)
VALUE = st.recursive(
    LEAF,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(WEIRD_TEXT, inner, max_size=4)
    ),
    max_leaves=12,
)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(node, dict):
        for key, item in node.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            found += _paths(item, (*prefix, index))
    return found


def _mutate(data: Any, path: tuple, action: str, value: Any) -> Any:
    if not path:
        return value if action == "replace" else data
    head, rest = path[0], path[1:]
    copy = dict(data) if isinstance(data, dict) else list(data)
    if rest:
        copy[head] = _mutate(copy[head], rest, action, value)
    elif action == "drop":
        del copy[head]
    elif action == "retype":
        copy[head] = [copy[head]] if not isinstance(copy[head], list) else {"x": copy[head]}
    else:
        copy[head] = value
    return copy


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    data = draw(st.sampled_from(DATA))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(data)))
        action = draw(st.sampled_from(["replace", "drop", "retype", "replace"]))
        data = _mutate(data, path, action, draw(VALUE))
    return data


def _dump(data: Any) -> str:
    stream = io.StringIO()
    YAML(typ="safe", pure=True).dump(data, stream)
    return stream.getvalue()


@FAST
@given(mutated())
def test_mutated_data_validates_or_fails_cleanly(data):
    result = bounded(
        lambda: build_scenario(data) if isinstance(data, dict) else parse_scenario(_dump(data))
    )
    if isinstance(result, ConfigError):
        one_problem_per_line(result)


@FAST
@given(mutated())
@example(DATA[0] | {"faults": [{"at": "1s", "every": 1e-9, "kill": {"target": "kafka-1"}}]})
@example(DATA[0] | {"seed": 2**64})
def test_mutated_yaml_validates_or_fails_cleanly(data):
    text = _dump(data)
    result = bounded(lambda: parse_scenario(text, "fuzz.yaml"))
    if isinstance(result, ConfigError):
        one_problem_per_line(result)


@FAST
@given(
    st.sampled_from(TEXTS),
    st.integers(0, 10_000),
    st.binary(min_size=1, max_size=8),
)
def test_bad_bytes_anywhere_fail_cleanly(tmp_path_factory, text, where, junk):
    raw = text.encode()
    where = where % (len(raw) + 1)
    path = tmp_path_factory.mktemp("bytes") / "x.yaml"
    path.write_bytes(raw[:where] + junk + raw[where:])
    result = bounded(lambda: load_scenario(path))
    if isinstance(result, ConfigError):
        one_problem_per_line(result)


@FAST
@given(
    st.sampled_from(TEXTS),
    st.sampled_from(["nest", "flow-nest", "bomb", "anchor-reuse", "tag", "merge"]),
    st.integers(1, 400),
)
def test_yaml_structure_attacks_fail_cleanly(text, attack, size):
    extra = {
        "nest": "".join(f"{' ' * i}k{i}:\n" for i in range(min(size, 300))) + " " * 300 + "v: 1\n",
        "flow-nest": "about: " + "[" * size + "]" * size + "\n",
        "bomb": _bomb(min(size, 9), 2 + size % 9),
        "anchor-reuse": "thresholds: &t [lost == 0]\n"
        + "".join(f"x{i}: *t\n" for i in range(size)),
        "tag": f"about: !!python/object:os.system {size}\n",
        "merge": "defaults: &d {acks: all}\nproducer: {<<: [*d, {linger_ms: " + str(size) + "}]}\n",
    }[attack]
    result = bounded(lambda: parse_scenario(text + extra, "fuzz.yaml"))
    assert isinstance(result, ConfigError)  # every attack adds an unknown field at least
    one_problem_per_line(result)


# --- the command line -------------------------------------------------------------------


def _cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    out, err = out.getvalue(), err.getvalue()
    assert "Traceback" not in out + err
    return code, out, err


@pytest.mark.parametrize("name", list(REPRODUCTIONS), ids=list(REPRODUCTIONS))
def test_validate_command_on_each_reproduction(tmp_path, name):
    path = tmp_path / "x.yaml"
    path.write_bytes(REPRODUCTIONS[name])
    code, out, err = _cli(["validate", str(path)])
    assert code == 2
    assert len(err.splitlines()) == 1 and out.strip()


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--seed", "-1", str(SCENARIOS)],
        ["run", "--seed", "abc", str(SCENARIOS)],
        ["run", "--seed", str(2**64), str(SCENARIOS)],
        ["run", "--duration-scale", "nan", str(SCENARIOS)],
        ["run", "--duration-scale", "inf", str(SCENARIOS)],
        ["run", "--duration-scale", "0", str(SCENARIOS)],
        ["run", "--duration-scale", "-1", str(SCENARIOS)],
        ["run", "--duration-scale", "1e300", str(SCENARIOS)],
        ["run", "--duration-scale", "x", str(SCENARIOS)],
    ],
    ids=lambda argv: " ".join(argv[1:3]),
)
def test_run_rejects_bad_options_in_one_line_before_any_stack(argv):
    code, _, err = _cli(argv)
    assert code == 2
    assert len(err.splitlines()) == 1 and err.startswith("harness run: error: ")


@FAST
@given(st.sampled_from(TEXTS), st.integers(0, 3), VALUE)
def test_validate_command_exits_0_or_2_with_one_stderr_line(tmp_path_factory, text, which, value):
    data = dict(read_yaml(text, "x")[0])
    data[list(data)[which % len(data)]] = value
    path = tmp_path_factory.mktemp("cli") / "x.yaml"
    path.write_text(_dump(data), encoding="utf-8")
    code, out, err = _cli(["validate", str(path)])
    assert code in (0, 2)
    assert len(err.splitlines()) == 1
    assert (code == 0) == (out == "")
