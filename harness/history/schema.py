"""The history schema: one flat columnar table, one row per op.

Every op of a run (``send``, ``recv``, ``effect``, ``dead_letter``, ``fault``, ``observe``) is one
row of the same table; a column an op does not use is null. Times are float seconds on the run clock
(``harness.clock.now()``). Columns outside the schema are kept when read and ignored by checks.
See ``docs/history-format.md`` for the meaning of every column.
"""

from __future__ import annotations

import math
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc

from harness.errors import HistoryError

FORMAT_VERSION: Final = 1

OPS: Final = ("send", "recv", "effect", "dead_letter", "fault", "observe", "request")
UNKEYED_OPS: Final = ("fault", "observe")
"""Ops that name no event, so carry no ``id``: fault windows and observation declarations."""

STATUSES: Final = ("ok", "fail", "unknown")

SCHEMA: Final = pa.schema(
    [
        pa.field("op", pa.string()),
        pa.field("id", pa.string()),
        pa.field("key", pa.string()),
        pa.field("seq", pa.int64()),
        pa.field("t", pa.float64()),
        pa.field("t_intended", pa.float64()),
        pa.field("t_ack", pa.float64()),
        pa.field("status", pa.string()),
        pa.field("error", pa.string()),
        pa.field("partition", pa.int32()),
        pa.field("offset", pa.int64()),
        pa.field("queue", pa.string()),
        pa.field("delivery_tag", pa.int64()),
        pa.field("redelivered", pa.bool_()),
        pa.field("producer", pa.string()),
        pa.field("consumer", pa.string()),
        pa.field("group", pa.string()),
        pa.field("worker", pa.string()),
        pa.field("attempt", pa.int32()),
        pa.field("poison", pa.bool_()),
        pa.field("reason", pa.string()),
        pa.field("kind", pa.string()),
        pa.field("target", pa.string()),
        pa.field("t_start", pa.float64()),
        pa.field("t_end", pa.float64()),
        pa.field("source", pa.string()),
        pa.field("http_status", pa.int32()),
        pa.field("retry_after", pa.float64()),
        pa.field("msg_id", pa.string()),
        pa.field("signature", pa.string()),
        pa.field("policy", pa.string()),
        pa.field("auth", pa.string()),  # a downstream call's bearer check: valid, or why not
    ],
    metadata={b"harness.history.version": str(FORMAT_VERSION).encode()},
)

FIELDS: Final = frozenset(SCHEMA.names)


def unknown_fields(names: object) -> list[str]:
    """The names among ``names`` that are not columns of the schema, sorted."""
    return sorted(set(names) - FIELDS)  # type: ignore[call-overload]


def conform(table: pa.Table, *, source: str) -> pa.Table:
    """Return ``table`` with every schema column present, typed as the schema says, first.

    Missing columns are added as nulls; extra columns are kept after the schema's columns.
    A column that cannot be cast raises ``HistoryError`` naming the column and the source.
    """
    columns: list[pa.ChunkedArray] = []
    for field in SCHEMA:
        if field.name not in table.column_names:
            columns.append(pa.chunked_array([pa.nulls(table.num_rows, field.type)]))
            continue
        columns.append(_cast(table.column(field.name), field, source))
    extras = [name for name in table.column_names if name not in FIELDS]
    names = list(SCHEMA.names) + extras
    arrays = columns + [table.column(name) for name in extras]
    return pa.Table.from_arrays(arrays, names=names).replace_schema_metadata(SCHEMA.metadata)


def one_line(error: BaseException | str, limit: int = 300) -> str:
    """An error's text on one line, shortened: Arrow's messages may span lines or quote data."""
    text = " ".join(str(error).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _cast(column: pa.ChunkedArray, field: pa.Field, source: str) -> pa.ChunkedArray:
    if column.type == field.type:
        return column
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
        if column.type == field.type:
            return column
    try:
        return column.cast(field.type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as error:
        raise HistoryError(
            f"{source}: column {field.name!r} has type {column.type}, which cannot be read as "
            f"{field.type} ({one_line(error)}); fix the writer or convert the column"
        ) from None


TIME_COLUMNS: Final = ("t", "t_intended", "t_ack", "t_start", "t_end")
MAX_ABS_TIME: Final = 1e12
"""Times are seconds on the run clock; beyond this (about 31,700 years) a time is a unit
mistake or garbage, and differences of such times would overflow latency arithmetic."""
MAX_SEQ: Final = 2**53


def check_utf8(table: pa.Table, source: object, first_row: int = 0) -> None:
    """Raise ``HistoryError`` naming the first string column holding bytes that are not UTF-8.

    Arrow's readers do not all validate text; a later ``as_py()`` would fail far from here.
    """
    for name in table.column_names:
        column = table.column(name)
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            continue
        try:
            column.validate(full=True)
        except pa.ArrowInvalid:
            row = first_row + _first_bad_utf8(column)
            raise HistoryError(
                f"{source}, row {row}: column {name!r} holds bytes that are not UTF-8 text; "
                "fix the writer to write UTF-8 strings"
            ) from None


def _first_bad_utf8(column: pa.ChunkedArray) -> int:
    base = 0
    for chunk in column.chunks:
        try:
            chunk.validate(full=True)
        except pa.ArrowInvalid:
            for index in range(len(chunk)):  # only once a chunk is known to be bad
                try:
                    chunk.slice(index, 1).validate(full=True)
                except pa.ArrowInvalid:
                    return base + index
        base += len(chunk)
    return base


def first_invalid_row(table: pa.Table) -> tuple[int, str] | None:
    """The first row that breaks a rule of the format, with the reason; None when all hold.

    Rules: ``op`` is one of ``OPS``; every op but ``fault`` and ``observe`` has an ``id``; ``status`` is null
    or one of ``STATUSES``; times are null or finite with magnitude below ``MAX_ABS_TIME``;
    ``seq`` is null or in ``0..MAX_SEQ``. Columns absent from ``table`` are not judged.
    Vectorised: the row is only located once a rule fails.
    """
    found = [
        (pc.index(mask, True).as_py(), reason, column)
        for mask, reason, column in _rules(table)
        if pc.any(mask).as_py()
    ]
    if not found:
        return None
    row, reason, column = min(found)
    shown = [n for n in ("op", "id", "status", column) if n in table.column_names]
    shown = list(dict.fromkeys(shown))
    values = ", ".join(f"{n}={_value(table, n, row)!r}" for n in shown)
    return row, f"{reason} (got {values}); fix the writer or drop the row"


def _rules(table: pa.Table) -> list[tuple[pa.ChunkedArray, str, str]]:
    op = table.column("op")
    rules = [(pc.invert(pc.fill_null(pc.is_in(op, pa.array(OPS)), False)), _OP_RULE, "op")]
    if "id" in table.column_names:
        keyed = pc.invert(pc.fill_null(pc.is_in(op, pa.array(UNKEYED_OPS)), False))
        missing_id = pc.and_(keyed, pc.is_null(table.column("id")))
        rules.append((pc.fill_null(missing_id, False), _ID_RULE, "id"))
    if "status" in table.column_names:
        status = table.column("status")
        bad = pc.and_(pc.is_valid(status), pc.invert(pc.is_in(status, pa.array(STATUSES))))
        rules.append((bad, _STATUS_RULE, "status"))
    return rules + _value_rules(table)


def breaks_value_rules(table: pa.Table) -> bool:
    """Whether some time or seq of ``table`` breaks the rules of ``first_invalid_row``."""
    return any(pc.any(mask).as_py() for mask, _, _ in _value_rules(table))


def _value_rules(table: pa.Table) -> list[tuple[pa.ChunkedArray, str, str]]:
    rules = []
    for name in TIME_COLUMNS:
        if name in table.column_names and not _times_fine(table.column(name)):
            rules.append((_bad_time(table.column(name)), _time_rule(name), name))
    if "seq" in table.column_names and not _seqs_fine(table.column("seq")):
        seq = table.column("seq")
        bad = pc.or_(pc.less(seq, 0), pc.greater(seq, MAX_SEQ))
        rules.append((pc.fill_null(bad, False), _SEQ_RULE, "seq"))
    return rules


def _times_fine(column: pa.ChunkedArray) -> bool:
    """Two cheap passes: min and max in range, and a finite sum (NaN or inf would spoil it)."""
    low, high = pc.min_max(column).values()
    if low.as_py() is None:
        return True  # all null
    total = pc.sum(column).as_py()
    return -MAX_ABS_TIME < low.as_py() and high.as_py() < MAX_ABS_TIME and math.isfinite(total)


def _seqs_fine(column: pa.ChunkedArray) -> bool:
    low, high = (v.as_py() for v in pc.min_max(column).values())
    return low is None or (0 <= low and high <= MAX_SEQ)


def _bad_time(column: pa.ChunkedArray) -> pa.ChunkedArray:
    out_of_range = pc.invert(pc.less(pc.abs(column), MAX_ABS_TIME))  # NaN compares false
    return pc.fill_null(out_of_range, False)


def _value(table: pa.Table, name: str, row: int) -> object:
    value = table.column(name)[row].as_py()
    return value[:60] + "..." if isinstance(value, str) and len(value) > 60 else value


def _time_rule(name: str) -> str:
    return (
        f"column {name!r} must be null or a finite number of seconds below {MAX_ABS_TIME:g} "
        "in magnitude (NaN, Infinity and values such as 1e308 are not times)"
    )


_OP_RULE = "column 'op' must be one of " + ", ".join(OPS)
_ID_RULE = "column 'id' is required for every op but fault and observe"
_STATUS_RULE = "column 'status' must be null or one of " + ", ".join(STATUSES)
_SEQ_RULE = f"column 'seq' must be null or a whole number from 0 to {MAX_SEQ} (2**53)"


__all__ = [
    "FIELDS",
    "breaks_value_rules",
    "check_utf8",
    "MAX_ABS_TIME",
    "TIME_COLUMNS",
    "FORMAT_VERSION",
    "OPS",
    "SCHEMA",
    "STATUSES",
    "conform",
    "first_invalid_row",
    "one_line",
    "unknown_fields",
]
