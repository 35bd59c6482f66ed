"""The JSON Lines interchange format: fast reading, exact error locations, writing.

Reading goes through ``pyarrow.json`` with the history schema given explicitly, so parsing is
multi-threaded C++ rather than one ``json.loads`` per line. When pyarrow rejects a file, the
file is scanned again line by line (only then) to name the line and field at fault.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pyarrow as pa
import pyarrow.json as pj

from harness.errors import HistoryError
from harness.history.schema import SCHEMA, conform, first_invalid_row, one_line

_BLOCK_SIZE = 32 << 20
_BATCH_ROWS = 65_536


MAX_JSONL_BYTES = 4 << 30
"""Largest JSON Lines history read (its table takes a few times the file's size in memory)."""
MAX_DEPTH = 1000
"""Deepest nesting of an extra field kept by ``read_jsonl(keep_extra=True)``: pyarrow's type
inference recurses, and crashed the process (SIGSEGV) on a line nested 30,000 deep."""
_SCAN_BLOCK = 8 << 20
MAX_JSON_ARRAY_BYTES = 64 << 20
"""Largest ``.json`` array history read (parsed by ``json.loads``, ~10x its size in memory)."""


def read_jsonl(path: Path, *, keep_extra: bool = True) -> pa.Table:
    """Read a JSON Lines history into a table with the history schema.

    Unknown fields are kept as extra columns when ``keep_extra`` (their types inferred) and
    dropped otherwise. Raises ``HistoryError`` naming the line and field at fault.
    """
    size = _size(path)
    if _is_blank(path):
        return SCHEMA.empty_table()
    if _first_char(path) == "[":
        return _read_json_array(path, size, keep_extra)
    if size > MAX_JSONL_BYTES:
        raise HistoryError(_too_big(path, size, MAX_JSONL_BYTES, "split it or write Parquet"))
    lines, depth = _scan_lines(path, depth=keep_extra)
    if depth > MAX_DEPTH:
        _refuse_deep_lines(path)
    options = pj.ParseOptions(
        explicit_schema=SCHEMA,
        unexpected_field_behavior="infer" if keep_extra else "ignore",
    )
    try:
        table = pj.read_json(
            path, read_options=pj.ReadOptions(block_size=_BLOCK_SIZE), parse_options=options
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as error:
        raise _locate_error(path, str(error)) from None
    except OSError as error:
        raise HistoryError(_unreadable(path, error)) from None
    if table.num_rows != lines:
        raise _locate_error(path, f"{table.num_rows} rows from {lines} non-blank lines")
    return _validated(conform(table, source=str(path)), path)


def _validated(table: pa.Table, path: Path) -> pa.Table:
    invalid = first_invalid_row(table)
    if invalid is not None:
        row, reason = invalid
        raise HistoryError(f"{path}, line {_line_of_row(path, row)}: {reason}")
    return table


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError as error:
        raise HistoryError(_unreadable(path, error)) from None


def _unreadable(path: Path, error: OSError) -> str:
    return (
        f"{path}: cannot read the history ({one_line(error)}); check that the path names a "
        "readable file"
    )


def _too_big(path: Path, size: int, limit: int, advice: str) -> str:
    return (
        f"{path}: {size:,} bytes is more than the {limit:,} bytes a {path.suffix} history may "
        f"hold; {advice}"
    )


def _scan_lines(path: Path, *, depth: bool) -> tuple[int, int]:
    """Count the non-blank lines, checking on the way that the file is UTF-8.

    With ``depth``, also bound how deep brackets nest (an estimate: brackets inside strings
    count too, so a high value is only a reason to look closer).
    """
    count, line_base, deepest, level = 0, 0, 0, 0
    with path.open("rb") as handle:
        rest = b""
        while block := handle.read(_SCAN_BLOCK):
            block = rest + block
            cut = block.rfind(b"\n") + 1
            whole, rest = (block[:cut], block[cut:]) if cut else (b"", block)
            count += _count_block(path, whole, line_base)
            line_base += whole.count(b"\n")
            if depth:
                level, deepest = _nesting(whole, level, deepest)
        count += _count_block(path, rest, line_base)
        if depth:
            level, deepest = _nesting(rest, level, deepest)
    return count, deepest


def _nesting(block: bytes, level: int, deepest: int) -> tuple[int, int]:
    if not block:
        return level, deepest
    raw = np.frombuffer(block, np.uint8)
    step = np.isin(raw, _OPENERS).astype(np.int8) - np.isin(raw, _CLOSERS).astype(np.int8)
    levels = np.cumsum(step, dtype=np.int64) + level
    return int(levels[-1]), max(deepest, int(levels.max()))


_ONE_OBJECT = "write one op object per line (docs/history-format.md), or remove the line"
_OPENERS = np.frombuffer(b"[{", np.uint8)
_CLOSERS = np.frombuffer(b"]}", np.uint8)


def _refuse_deep_lines(path: Path) -> None:
    """Raise for the first line that is not JSON or nests deeper than ``MAX_DEPTH``."""
    for number, line in _numbered_lines(path):
        record, problem = parse_json(line.rstrip("\r\n"))
        if problem:
            raise HistoryError(f"{path}, line {number}{_column_of(problem)}")
        if _depth(record) > MAX_DEPTH:
            raise HistoryError(
                f"{path}, line {number}: nested more than {MAX_DEPTH} levels deep; ops are flat "
                "objects, so flatten or drop the nested field"
            )


def _depth(value: object) -> int:
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(item, dict):
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, level + 1) for v in item)
    return deepest


def _count_block(path: Path, block: bytes, line_base: int) -> int:
    """The non-blank lines of ``block`` (whole lines), each checked to be UTF-8 and to start
    an object: pyarrow 26 crashes the process (SIGSEGV) on a first line such as ``null``."""
    _check_utf8(path, block, line_base)
    count = 0
    for index, line in enumerate(block.split(b"\n")):
        line = line.strip()
        if not line:
            continue
        if line[:1] != b"{":
            raise HistoryError(
                f"{path}, line {line_base + index + 1}: each line must be one JSON object, got "
                f"{_short(line.decode('utf-8'))}; {_ONE_OBJECT}"
            )
        count += 1
    return count


def _check_utf8(path: Path, block: bytes, line_base: int) -> None:
    try:
        block.decode("utf-8")
    except UnicodeDecodeError as error:
        line = line_base + block.count(b"\n", 0, error.start) + 1
        column = error.start - (block.rfind(b"\n", 0, error.start) + 1) + 1
        raise HistoryError(
            f"{path}, line {line}, byte {column}: not valid UTF-8 ({error.reason}, byte "
            f"{block[error.start : error.start + 1]!r}); histories are UTF-8 text: re-encode the "
            "file (for example `iconv -f latin1 -t utf-8`)"
        ) from None


def write_jsonl(table: pa.Table, path: Path) -> int:
    """Write ``table`` as JSON Lines, omitting null fields; return the number of lines."""
    lines = 0
    with path.open("w", encoding="utf-8") as out:
        for batch in table.to_batches(max_chunksize=_BATCH_ROWS):
            lines += _write_batch(batch, out)
    return lines


def _write_batch(batch: pa.RecordBatch, out: TextIO) -> int:
    rows = batch.to_pylist()
    out.writelines(json.dumps(_compact(row), separators=(",", ":")) + "\n" for row in rows)
    return len(rows)


def _compact(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if v is not None and not _is_nan(v)}


def _is_nan(value: object) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _is_blank(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return not handle.read(65_536).strip() and not handle.read(1)
    except OSError as error:
        raise HistoryError(_unreadable(path, error)) from None


def _first_char(path: Path) -> str:
    with path.open("rb") as handle:
        head = handle.read(4096).lstrip()
    return chr(head[0]) if head else ""


def _read_json_array(path: Path, size: int, keep_extra: bool) -> pa.Table:
    """A ``.json`` file holding one array of op objects (small files from other tools)."""
    if size > MAX_JSON_ARRAY_BYTES:
        raise HistoryError(
            _too_big(path, size, MAX_JSON_ARRAY_BYTES, "write it as JSON Lines (one op per line)")
        )
    raw = path.read_bytes()
    _check_utf8(path, raw, 0)
    records, problem = parse_json(raw.decode("utf-8"))
    if problem:
        raise HistoryError(f"{path}{', ' if problem.startswith('line') else ': '}{problem}")
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise HistoryError(
            f"{path}: a .json history must be one array of op objects; write it as "
            "[{...}, {...}] or as JSON Lines (one op object per line)"
        )
    for index, record in enumerate(records):
        problem = field_problem(record)
        if problem:
            raise HistoryError(f"{path}, element {index}: {problem}")
    table = conform(_from_records(path, records, keep_extra), source=str(path))
    invalid = first_invalid_row(table)
    if invalid is not None:
        raise HistoryError(f"{path}, element {invalid[0]}: {invalid[1]}")
    return table


def _from_records(path: Path, records: list[dict[str, Any]], keep_extra: bool) -> pa.Table:
    try:
        known = pa.Table.from_pylist(records, schema=SCHEMA)
    except (pa.ArrowException, OverflowError) as error:  # field_problem passed them: a gap there
        raise HistoryError(
            f"{path}: the ops cannot be read as a history ({one_line(error)}); check each "
            "field's type against docs/history-format.md"
        ) from None
    extras = sorted({name for r in records for name in r} - set(SCHEMA.names))
    if not keep_extra or not extras:
        return known
    try:
        more = pa.Table.from_pylist([{n: r.get(n) for n in extras} for r in records])
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as error:
        raise HistoryError(
            f"{path}: the extra fields {extras} cannot be read as columns "
            f"({one_line(error)}); give each extra field one type, or remove it"
        ) from None
    for name in extras:
        known = known.append_column(name, more.column(name))
    return known


def parse_json(text: str) -> tuple[Any, str | None]:
    """``json.loads(text)``, or None and where and why it is not JSON a history can hold."""
    try:
        return json.loads(text), None
    except json.JSONDecodeError as error:
        where = f"line {error.lineno}, column {error.colno}"
        if error.msg == "Extra data":
            return None, (
                f"{where}: a second JSON value where one line must hold one object; put each "
                "op on its own line"
            )
        return None, f"{where}: invalid JSON ({error.msg}); fix the JSON there"
    except RecursionError:
        return None, (
            "nested too deeply to be a history (ops are flat objects); flatten or drop the "
            "nested field"
        )
    except ValueError as error:  # e.g. an integer of more than 4300 digits
        return None, f"a number that cannot be read ({one_line(error)}); shorten the number"


def _numbered_lines(path: Path) -> Iterator[tuple[int, str]]:
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield number, line


def _line_of_row(path: Path, row: int) -> int:
    for index, (number, _) in enumerate(_numbered_lines(path)):
        if index == row:
            return number
    return row + 1


def _locate_error(path: Path, arrow_message: str) -> HistoryError:
    for number, line in _numbered_lines(path):
        record, problem = parse_json(line.rstrip("\r\n"))
        if problem:
            return HistoryError(f"{path}, line {number}{_column_of(problem)}")
        if not isinstance(record, dict):
            return HistoryError(
                f"{path}, line {number}: each line must be one JSON object, got "
                f"{_short(record)}; {_ONE_OBJECT}"
            )
        problem = field_problem(record)
        if problem:
            return HistoryError(f"{path}, line {number}: {problem}")
    return HistoryError(
        f"{path}: unreadable JSON Lines history ({one_line(arrow_message)}); each line must be one "
        "JSON object with the fields of docs/history-format.md"
    )


def _column_of(problem: str) -> str:
    """``parse_json``'s location is within the line: keep its column, drop its line 1."""
    return (
        problem.replace("line 1, ", ", ", 1) if problem.startswith("line 1, ") else ": " + problem
    )


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def field_problem(record: dict[str, Any]) -> str | None:
    for name, value in record.items():
        if value is None or name not in SCHEMA.names:
            continue
        kind = SCHEMA.field(name).type
        if not _fits(kind, value):
            return (
                f"field {name!r} must be {_describe(kind)}, got {_short(value)}; fix the "
                "writer or the value (docs/history-format.md lists each field's type)"
            )
    return None


def _fits(kind: pa.DataType, value: object) -> bool:
    if pa.types.is_string(kind):
        return isinstance(value, str)
    if pa.types.is_boolean(kind):
        return isinstance(value, bool)
    if pa.types.is_integer(kind):
        bits = kind.bit_width - 1
        return (
            isinstance(value, int) and not isinstance(value, bool) and -(2**bits) <= value < 2**bits
        )
    if isinstance(value, int) and not isinstance(value, bool):
        return -(2**53) <= value <= 2**53  # read as a double, exactly
    return isinstance(value, float) and math.isfinite(value)


def _describe(kind: pa.DataType) -> str:
    if pa.types.is_string(kind):
        return "a string"
    if pa.types.is_boolean(kind):
        return "true or false"
    if pa.types.is_integer(kind):
        return f"an integer ({kind})"
    return "a finite number (integers up to 2**53)"


__all__ = [
    "MAX_JSONL_BYTES",
    "MAX_JSON_ARRAY_BYTES",
    "field_problem",
    "parse_json",
    "read_jsonl",
    "write_jsonl",
]
