"""History writer, readers (Parquet, JSON Lines, partial stream), merge and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from harness.cli import main
from harness.errors import HistoryError
from harness.history import (
    SCHEMA,
    HistoryWriter,
    merge_histories,
    partial_path,
    read_history,
    read_jsonl,
    write_jsonl,
)

EXAMPLE = """\
{"op":"send","id":"e1","key":"k1","seq":1,"t_intended":10.000,"t":10.001,"t_ack":10.004,"status":"ok","partition":0,"offset":41,"producer":"p0","poison":false}
{"op":"recv","id":"e1","key":"k1","seq":1,"t":10.012,"consumer":"c0","group":"g1","partition":0,"offset":41,"redelivered":false}
{"op":"effect","id":"e1","t":10.013,"consumer":"c0"}
{"op":"fault","kind":"toxic.latency","target":"kafka-1","t_start":12.0,"t_end":17.0,"note":"kept"}
"""


def write(tmp_path: Path, text: str, name: str = "h.jsonl") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_writer_round_trip_and_partial_removed(tmp_path: Path) -> None:
    path = tmp_path / "history.parquet"
    with HistoryWriter(path, flush_interval=0.05) as history:
        history.append({"op": "send", "id": "e1", "t": 1.0, "status": "ok"})
        history.extend([{"op": "recv", "id": "e1", "t": 2.0, "group": "g"}])
    table = read_history(path)
    assert table.column("op").to_pylist() == ["send", "recv"]
    assert table.schema.names[: len(SCHEMA)] == SCHEMA.names
    assert not partial_path(path).exists()


def test_writer_rejects_unknown_fields_and_use_after_close(tmp_path: Path) -> None:
    history = HistoryWriter(tmp_path / "h.parquet")
    with pytest.raises(HistoryError, match="'colour'"):
        history.append({"op": "send", "id": "e", "colour": "red"})
    history.close()
    history.close()
    with pytest.raises(HistoryError, match="closed"):
        history.append({"op": "send", "id": "e"})


def test_writer_names_a_badly_typed_field(tmp_path: Path) -> None:
    history = HistoryWriter(tmp_path / "h.parquet", flush_interval=60)
    history.append({"op": "send", "id": "e", "seq": "one"})
    with pytest.raises(HistoryError, match="'seq'"):
        history.flush()


_CRASHING_WRITER = """
import os, sys, time
from pathlib import Path
from harness.history import HistoryWriter, partial_path, read_partial
history = HistoryWriter(Path(sys.argv[1]), flush_interval=0.05)
for i in range(100):
    history.append({"op": "send", "id": f"e{i}", "t": float(i), "status": "ok"})
deadline = time.monotonic() + 30
# Wait for a complete flush: the file's size alone can be read mid-batch (a torn first batch).
while read_partial(partial_path(Path(sys.argv[1]))).num_rows < 100 and time.monotonic() < deadline:
    time.sleep(0.01)
history.append({"op": "send", "id": "late", "t": 1.0})
os.kill(os.getpid(), 9)
"""


def test_sigkilled_run_keeps_flushed_ops_and_recovers(tmp_path: Path) -> None:
    path = tmp_path / "history.parquet"
    done = subprocess.run([sys.executable, "-c", _CRASHING_WRITER, str(path)], timeout=60)
    assert done.returncode == -9
    partial = partial_path(path)
    with pytest.raises(HistoryError, match="harness history recover"):
        read_history(path)
    assert read_history(partial).num_rows >= 100
    with partial.open("ab") as handle:  # a torn last batch is dropped, not fatal
        handle.write(b"\xff\xff\xff\xff\x10\x00")
    assert main(["history", "recover", str(partial)]) == 0
    assert read_history(path).num_rows >= 100
    assert not partial.exists()


def test_jsonl_reads_example_keeps_extra_and_treats_missing_as_null(tmp_path: Path) -> None:
    table = read_jsonl(write(tmp_path, EXAMPLE))
    assert table.num_rows == 4
    assert table.column("note").to_pylist()[-1] == "kept"
    assert table.column("status").to_pylist()[1] is None


def test_jsonl_errors_name_line_and_field(tmp_path: Path) -> None:
    bad_type = write(tmp_path, EXAMPLE + '\n{"op":"send","id":"e2","offset":"x"}\n')
    with pytest.raises(HistoryError, match=r"line 6: field 'offset'"):
        read_history(bad_type)
    bad_json = write(tmp_path, '{"op":"send","id":"e2"}\n{"op":"send",,}\n', "b.jsonl")
    with pytest.raises(HistoryError, match=r"line 2, column 14"):
        read_history(bad_json)
    bad_op = write(tmp_path, '{"op":"send","id":"a"}\n\n{"op":"oops","id":"b"}\n', "c.jsonl")
    with pytest.raises(HistoryError, match=r"line 3: column 'op'"):
        read_history(bad_op)


def test_export_import_round_trip(tmp_path: Path) -> None:
    source = write(tmp_path, EXAMPLE)
    parquet, back = tmp_path / "h.parquet", tmp_path / "back.jsonl"
    assert main(["history", "import", str(source), "-o", str(parquet)]) == 0
    assert main(["history", "export", str(parquet), "-o", str(back)]) == 0
    first = json.loads(back.read_text().splitlines()[0])
    assert first == json.loads(EXAMPLE.splitlines()[0])
    assert read_history(back).equals(read_history(parquet))


def test_json_array_file(tmp_path: Path) -> None:
    path = write(tmp_path, json.dumps([{"op": "send", "id": "a"}]), "h.json")
    assert read_history(path).column("id").to_pylist() == ["a"]


def test_merge_refuses_colliding_ids_unless_prefixed(tmp_path: Path) -> None:
    shards = []
    for worker in ("w1", "w2"):
        path = tmp_path / f"{worker}.jsonl"
        rows = [
            {"op": "send", "id": "e1", "producer": worker, "worker": worker},
            {"op": "recv", "id": "e1", "worker": worker, "group": "g"},
        ]
        write_jsonl(pa.Table.from_pylist(rows), path)
        shards.append(path)
    with pytest.raises(HistoryError, match="--prefix-worker"):
        merge_histories(shards, tmp_path / "m.parquet")
    assert merge_histories(shards, tmp_path / "m.parquet", prefix_worker=True) == 4
    ids = read_history(tmp_path / "m.parquet").column("id").to_pylist()
    assert ids == ["w1:e1", "w1:e1", "w2:e1", "w2:e1"]


def test_merge_keeps_ids_of_disjoint_shards(tmp_path: Path) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text('{"op":"send","id":"e1","producer":"p1"}\n')
    b.write_text('{"op":"recv","id":"e1","group":"g"}\n{"op":"send","id":"e2","producer":"p2"}\n')
    assert main(["history", "merge", str(a), str(b), "-o", str(tmp_path / "m.parquet")]) == 0
    assert read_history(tmp_path / "m.parquet").num_rows == 3


def test_check_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path, EXAMPLE)
    assert main(["check", str(good), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["valid"] is True
    lossy = write(tmp_path, EXAMPLE.splitlines()[0] + "\n", "lossy.jsonl")
    assert main(["check", str(lossy)]) == 1
    assert "lost" in capsys.readouterr().out
    assert main(["check", str(lossy), "--allow", "lost"]) == 0
    broken = write(tmp_path, '{"op":"send","id":1}\n', "broken.jsonl")
    assert main(["check", str(broken)]) == 2
    err = capsys.readouterr().err
    assert "line 1: field 'id' must be a string" in err and "Traceback" not in err


def test_check_cli_reads_parquet_and_names_bad_row(tmp_path: Path) -> None:
    path = tmp_path / "h.parquet"
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"op": ["send", "bogus"], "id": ["a", "b"]}), path)
    assert main(["check", str(path)]) == 2
    pq.write_table(pa.table({"op": ["send"], "id": ["a"], "status": ["ok"]}), path)
    assert main(["check", str(path)]) == 1  # acknowledged, never received
    assert os.path.exists(path)


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    here = Path(__file__).resolve().parents[2]
    return subprocess.Popen(
        [sys.executable, "-m", "harness", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(here), **(env or {})},
    )


def test_import_of_deeply_nested_extra_field_is_refused_not_a_crash(tmp_path: Path) -> None:
    # pyarrow's type inference segfaulted on this line (it keeps extra fields on import).
    path = tmp_path / "deep.jsonl"
    path.write_bytes(b'{"op":"send","id":"e","x":' + b"[" * 30_000 + b"]" * 30_000 + b"}\n")
    proc = _cli("history", "import", str(path), "-o", str(tmp_path / "out.parquet"))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, err
    assert b"line 1: nested too deeply" in err


def test_check_piped_into_a_reader_that_stops_early_is_quiet(tmp_path: Path) -> None:
    path = tmp_path / "lossy.jsonl"
    path.write_text(
        "".join(f'{{"op":"send","id":"event-{i}","status":"ok"}}\n' for i in range(30_000))
    )
    proc = _cli("check", str(path), "--examples", "30000")
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.read(10).startswith(b"INVALID")
    proc.stdout.close()  # as `| head -c 10` does
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 141  # 128 + SIGPIPE, what a shell reports
    assert err == b""


def test_a_bug_is_one_line_and_its_traceback_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import harness.checks.commands

    def broken(args: object) -> int:
        raise ZeroDivisionError("the checker divided by zero")

    monkeypatch.setattr(harness.checks.commands, "run", broken)
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path))
    monkeypatch.delenv("HARNESS_DEBUG", raising=False)
    history = write(tmp_path, EXAMPLE)
    assert main(["check", str(history)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "harness check: internal error: ZeroDivisionError: the checker divided by zero" in err
    assert "this is a bug, please report it with the command line" in err
    saved = list((tmp_path / "crashes").glob("*-check.txt"))
    assert len(saved) == 1 and str(saved[0]) in err
    text = saved[0].read_text()
    assert text.startswith(f"harness check {history}\n") and "in broken" in text
    monkeypatch.setenv("HARNESS_DEBUG", "1")
    assert main(["check", str(history)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "this is a bug" in err
    assert len(list((tmp_path / "crashes").glob("*.txt"))) == 1  # printed, not saved again


def test_empty_and_torn_partial_streams(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "history.parquet"
    writer = HistoryWriter(path, flush_interval=60)
    writer.append({"op": "send", "id": "e1", "t": 1.0, "status": "ok"})
    writer.flush()
    whole = partial_path(path).read_bytes()
    empty = tmp_path / "empty.partial.arrows"
    empty.write_bytes(b"")
    assert main(["check", str(empty)]) == 2
    assert "the history is empty" in capsys.readouterr().err
    torn = tmp_path / "torn.partial.arrows"
    torn.write_bytes(whole + b"\xff\xff\xff\xff\x10\x00")  # a last batch cut short
    assert main(["check", str(torn)]) == 1  # the complete batch is kept: e1 lost
    writer.close()


def test_json_output_is_strict_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, EXAMPLE.splitlines()[0] + "\n")

    def refuse(name: str) -> None:
        raise ValueError(name)

    assert main(["check", str(path), "--format", "json"]) == 1
    out = json.loads(capsys.readouterr().out, parse_constant=refuse)
    assert out["delivery_guarantee"] == "at-most-once"
    assert out["effect_guarantee"] is None
