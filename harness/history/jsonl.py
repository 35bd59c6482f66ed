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

import pyarrow as pa
import pyarrow.json as pj

from harness.errors import HistoryError
from harness.history.schema import SCHEMA, conform, first_invalid_row

_BLOCK_SIZE = 32 << 20
_BATCH_ROWS = 65_536


def read_jsonl(path: Path, *, keep_extra: bool = True) -> pa.Table:
    """Read a JSON Lines history into a table with the history schema.

    Unknown fields are kept as extra columns when ``keep_extra`` (their types inferred) and
    dropped otherwise. Raises ``HistoryError`` naming the line and field at fault.
    """
    if _is_blank(path):
        return SCHEMA.empty_table()
    if _first_char(path) == "[":
        return _read_json_array(path)
    options = pj.ParseOptions(
        explicit_schema=SCHEMA,
        unexpected_field_behavior="infer" if keep_extra else "ignore",
    )
    try:
        table = pj.read_json(
            path, read_options=pj.ReadOptions(block_size=_BLOCK_SIZE), parse_options=options
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise _locate_error(path, str(error)) from None
    except OSError as error:
        raise HistoryError(f"{path}: cannot read the history ({error})") from None
    table = conform(table, source=str(path))
    invalid = first_invalid_row(table)
    if invalid is not None:
        row, reason = invalid
        raise HistoryError(f"{path}, line {_line_of_row(path, row)}: {reason}")
    return table


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
        raise HistoryError(f"{path}: cannot read the history ({error})") from None


def _first_char(path: Path) -> str:
    with path.open("rb") as handle:
        head = handle.read(4096).lstrip()
    return chr(head[0]) if head else ""


def _read_json_array(path: Path) -> pa.Table:
    """A ``.json`` file holding one array of op objects (small files from other tools)."""
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise HistoryError(
            f"{path}, line {error.lineno}, column {error.colno}: invalid JSON ({error.msg})"
        ) from None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise HistoryError(f"{path}: a .json history must be one array of op objects")
    for index, record in enumerate(records):
        problem = field_problem(record)
        if problem:
            raise HistoryError(f"{path}, element {index}: {problem}")
    table = conform(pa.Table.from_pylist(records), source=str(path))
    invalid = first_invalid_row(table)
    if invalid is not None:
        raise HistoryError(f"{path}, element {invalid[0]}: {invalid[1]}")
    return table


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
        try:
            record = json.loads(line.rstrip("\r\n"))
        except json.JSONDecodeError as error:
            return HistoryError(
                f"{path}, line {number}, column {error.colno}: invalid JSON ({error.msg})"
            )
        if not isinstance(record, dict):
            return HistoryError(f"{path}, line {number}: each line must be one JSON object")
        problem = field_problem(record)
        if problem:
            return HistoryError(f"{path}, line {number}: {problem}")
    return HistoryError(f"{path}: unreadable JSON Lines history ({arrow_message})")


def field_problem(record: dict[str, Any]) -> str | None:
    for name, value in record.items():
        if value is None or name not in SCHEMA.names:
            continue
        kind = SCHEMA.field(name).type
        if not _fits(kind, value):
            return f"field {name!r} must be {_describe(kind)}, got {value!r}"
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
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _describe(kind: pa.DataType) -> str:
    if pa.types.is_string(kind):
        return "a string"
    if pa.types.is_boolean(kind):
        return "true or false"
    if pa.types.is_integer(kind):
        return f"an integer ({kind})"
    return "a number"


__all__ = ["field_problem", "read_jsonl", "write_jsonl"]
