"""Fuzz ``harness check`` with malformed histories: never a traceback, a hang or a bad JSON.

Hypothesis writes JSON Lines with wrong types, missing fields, bad bytes, NaN/Infinity, huge
numbers and nested values; ``.json`` arrays; Parquet files with wrong column types or missing
columns; Arrow streams, whole, torn or random bytes, named ``.partial.arrows``; empty files.
The law, for every file: ``harness check FILE`` ends with exit 0, 1 or 2, prints no traceback
and no "this is a bug" line, takes less than ``TIME_BOUND`` seconds, and with ``--format json``
its stdout parses with a strict parser (no NaN or Infinity). The issue's reproductions are
literal cases below, each with the message it must give.

``HARNESS_FUZZ_EXAMPLES=2000`` runs a deeper fuzz than the default 100 examples per test.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.cli import main
from harness.history import OPS, SCHEMA, STATUSES

TIME_BOUND = 5.0
FUZZ = settings(
    max_examples=int(os.environ.get("HARNESS_FUZZ_EXAMPLES", "100")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def _no_constants(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def run_check(path: Path, fmt: str = "text") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    started = time.monotonic()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["check", str(path), "--format", fmt])
    elapsed = time.monotonic() - started
    assert elapsed < TIME_BOUND, f"took {elapsed:.1f}s on {path}"
    return code, out.getvalue(), err.getvalue()


def assert_law(path: Path) -> int:
    """Check ``path`` in both formats; return the exit code (the same in both)."""
    code, out, err = run_check(path, "text")
    assert code in (0, 1, 2), (code, err)
    assert "Traceback" not in out + err
    assert "this is a bug" not in err, err
    if code == 2:
        assert out == ""
        assert len(err.strip().splitlines()) == 1, err
        assert str(path) in err or path.name in err, err
    json_code, json_out, json_err = run_check(path, "json")
    assert json_code == code, (json_code, code, json_err)
    parsed = json.loads(json_out, parse_constant=_no_constants)  # a document even on exit 2
    if code == 2:
        assert parsed["valid"] is None and parsed["error"], parsed
        assert len(json_err.strip().splitlines()) == 1, json_err
    else:
        assert parsed["valid"] is (code == 0)
    return code


# -- JSON Lines ---------------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e308, -1e308, 1e-308, 2**63, -(2**63) - 1, 0.5]),
    st.text(max_size=8),
    st.sampled_from([*OPS, *STATUSES, "recieve", "", "OK"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=6,
)
field_names = st.sampled_from([*SCHEMA.names, "note", "extra"])


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    """A mostly plausible op, then some fields overwritten with arbitrary values."""
    i = draw(st.integers(0, 5))
    record: dict[str, Any] = {
        "op": draw(st.sampled_from(OPS)),
        "id": f"e{i}",
        "key": draw(st.sampled_from(["k1", "k2", None])),
        "seq": draw(st.integers(1, 4)),
        "t": draw(st.floats(0, 100)),
        "status": draw(st.sampled_from([*STATUSES, None])),
        "group": "g",
        "partition": 0,
        "offset": i,
    }
    for name in draw(st.lists(field_names, max_size=3)):
        record[name] = draw(values)
    for name in draw(st.lists(st.sampled_from(list(record)), max_size=2)):
        record.pop(name, None)
    return record


def _line(record: dict[str, Any]) -> bytes:
    return json.dumps(record, allow_nan=True).encode()


mutations = st.sampled_from(["none", "truncate", "bytes", "twice", "blank", "array", "scalar"])


@st.composite
def jsonl_files(draw: st.DrawFn) -> bytes:
    lines = []
    for record in draw(st.lists(records(), max_size=8)):
        line, how = _line(record), draw(mutations)
        if how == "truncate":
            line = line[: draw(st.integers(0, max(len(line) - 1, 0)))]
        elif how == "bytes":
            at = draw(st.integers(0, len(line)))
            line = line[:at] + draw(st.binary(min_size=1, max_size=4)) + line[at:]
        elif how == "twice":
            line = line + line
        elif how == "blank":
            line = b"  "
        elif how == "array":
            line = b"[" + line + b"]"
        elif how == "scalar":
            line = draw(st.sampled_from([b"1", b'"op"', b"null", b"NaN", b"[]"]))
        lines.append(line)
    return b"\n".join(lines) + draw(st.sampled_from([b"", b"\n", b"\r\n"]))


@FUZZ
@given(content=jsonl_files())
def test_fuzzed_json_lines(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "h.jsonl"
    path.write_bytes(content)
    assert_law(path)


@FUZZ
@given(rows=st.lists(records(), max_size=6), raw=st.booleans())
def test_fuzzed_json_arrays(tmp_path: Path, rows: list[dict[str, Any]], raw: bool) -> None:
    path = tmp_path / "h.json"
    content = json.dumps(rows, allow_nan=True).encode()
    path.write_bytes(content[: len(content) // 2] if raw else content)
    assert_law(path)


# -- Parquet and Arrow streams -----------------------------------------------------------

arrow_types = st.sampled_from(
    [
        pa.string(),
        pa.large_string(),
        pa.int64(),
        pa.int8(),
        pa.float64(),
        pa.bool_(),
        pa.null(),
        pa.binary(),
        pa.list_(pa.int64()),
        pa.struct([("a", pa.int64())]),
        pa.timestamp("ms"),
        pa.dictionary(pa.int32(), pa.string()),
    ]
)


def _sample(kind: pa.DataType, n: int, draw: st.DrawFn) -> pa.Array:
    if pa.types.is_binary(kind):
        return pa.array([draw(st.binary(max_size=4)) for _ in range(n)], kind)
    if pa.types.is_dictionary(kind):
        return pa.array([draw(st.sampled_from([*OPS, "x"])) for _ in range(n)]).dictionary_encode()
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return pa.array(
            [draw(st.sampled_from([*OPS, *STATUSES, "e1", "x"])) for _ in range(n)], kind
        )
    if pa.types.is_floating(kind):
        return pa.array([draw(st.floats(allow_nan=True)) for _ in range(n)], kind)
    if pa.types.is_integer(kind):
        info = (-128, 127) if kind == pa.int8() else (-(2**63), 2**63 - 1)
        return pa.array([draw(st.integers(*info)) for _ in range(n)], kind)
    if pa.types.is_boolean(kind):
        return pa.array([draw(st.booleans()) for _ in range(n)], kind)
    if pa.types.is_list(kind):
        return pa.array([[1, 2]] * n, kind)
    if pa.types.is_struct(kind):
        return pa.array([{"a": 1}] * n, kind)
    if pa.types.is_timestamp(kind):
        return pa.array([0] * n, pa.int64()).cast(kind)
    return pa.nulls(n, kind)


@st.composite
def tables(draw: st.DrawFn) -> pa.Table:
    n = draw(st.integers(0, 5))
    names = draw(st.lists(st.sampled_from([*SCHEMA.names, "note"]), max_size=8, unique=True))
    columns = {"op": pa.array([draw(st.sampled_from(OPS)) for _ in range(n)], pa.string())}
    columns["id"] = pa.array([f"e{i}" for i in range(n)], pa.string())
    for name in names:
        columns[name] = _sample(draw(arrow_types), n, draw)
    for name in draw(st.lists(st.sampled_from(["op", "id"]), max_size=1)):
        columns.pop(name, None)
    return pa.table(columns)


@FUZZ
@given(table=tables())
def test_fuzzed_parquet_columns(tmp_path: Path, table: pa.Table) -> None:
    path = tmp_path / "h.parquet"
    pq.write_table(table, path)
    assert_law(path)


@FUZZ
@given(
    table=tables(),
    cut=st.just(1.0) | st.floats(0, 1),
    noise=st.just(b"") | st.binary(max_size=64),
)
def test_fuzzed_partial_streams(tmp_path: Path, table: pa.Table, cut: float, noise: bytes) -> None:
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    stream = sink.getvalue()
    path = tmp_path / "history.parquet.partial.arrows"
    path.write_bytes(stream[: int(len(stream) * cut)] + noise)
    assert_law(path)


@FUZZ
@given(
    content=st.binary(max_size=512),
    name=st.sampled_from(["h.jsonl", "h.json", "h.parquet", "h.partial.arrows", "h.ndjson"]),
)
def test_random_bytes_under_every_history_name(tmp_path: Path, content: bytes, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    assert_law(path)


# -- The reproductions, each with the message it must give -------------------------


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


SEND = b'{"op":"send","id":"e1","key":"k","seq":1,"t":1.0,"status":"ok"}'
CASES = {
    "utf8-id.jsonl": (b'{"op":"send","id":"caf\xe9","status":"ok"}\n', "line 1, byte 23"),
    "utf8-key.jsonl": (SEND + b'\n{"op":"recv","id":"e1","key":"\xff"}\n', "line 2"),
    "utf8.json": (b'[{"op":"send","id":"a\xff"}]', "not valid UTF-8"),
    "nan.jsonl": (b'{"op":"send","id":"e1","t":NaN,"status":"ok"}\n', "column 't'"),
    "inf.jsonl": (SEND + b'\n{"op":"recv","id":"e1","t":Infinity}\n', "line 2: column 't'"),
    "huge-t.jsonl": (SEND + b'\n{"op":"recv","id":"e1","t":1e308}\n', "line 2: column 't'"),
    "two-on-a-line.jsonl": (SEND + SEND + b"\n", "line 1, column 64: a second JSON value"),
    "random.partial.arrows": (bytes(range(256)) * 4, "not a partial history"),
    "empty.jsonl": (b"", "the history is empty"),
    "blank.jsonl": (b"\n  \n\n", "the history is empty"),
    "zero-rows.parquet": (_parquet(SCHEMA.empty_table()), "the history is empty"),
    "int-op.parquet": (_parquet(pa.table({"op": [1, 2], "id": ["a", "b"]})), "column 'op'"),
    "deep.json": (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    "deep-id.jsonl": (b'{"op":"send","id":' + b"[" * 100_000 + b"]" * 100_000 + b"}\n", "line 1"),
    "long-int.jsonl": (b'{"op":"send","id":"e","offset":' + b"9" * 5000 + b"}\n", "line 1"),
    "nested-id.jsonl": (b'{"op":"send","id":{"a":[1,2]}}\n', "field 'id' must be a string"),
    "negative-seq.jsonl": (b'{"op":"send","id":"e","seq":-5}\n', "column 'seq'"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_reproductions_exit_2_with_one_clear_line(tmp_path: Path, name: str) -> None:
    content, message = CASES[name]
    path = tmp_path / name
    path.write_bytes(content)
    assert assert_law(path) == 2
    _, _, err = run_check(path)
    assert message in err, err
    assert err.startswith(f"harness check: error: {path}"), err


def test_folders_and_devices_are_refused_without_reading_them(tmp_path: Path) -> None:
    endless = tmp_path / "endless.jsonl"
    endless.symlink_to("/dev/zero")  # read to its end, it would never end
    for path in (tmp_path, endless):
        assert assert_law(path) == 2
    assert "is a folder" in run_check(tmp_path)[2]
    assert "not a regular file" in run_check(endless)[2]


def test_largest_accepted_times_give_finite_strict_json(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    path.write_bytes(SEND + b'\n{"op":"recv","id":"e1","key":"k","seq":1,"t":9e11}\n')
    assert assert_law(path) == 0
    _, out, _ = run_check(path, "json")
    latency = json.loads(out, parse_constant=_no_constants)["latency"]["end_to_end_sent"]
    assert latency["max_ms"] == pytest.approx(9e14, rel=1e-6)


def test_non_finite_numbers_in_a_result_become_null() -> None:
    from harness.checks import CheckResult

    result = CheckResult(
        valid=True,
        delivery_guarantee=None,
        effect_guarantee=None,
        anomalies={},
        examples={},
        counts={},
        latency={"publish": {"count": 1, "p50_ms": float("nan"), "max_ms": float("inf")}},
    )
    text = json.dumps(result.to_json(), allow_nan=False)
    assert json.loads(text)["latency"]["publish"] == {"count": 1, "p50_ms": None, "max_ms": None}
