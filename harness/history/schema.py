"""The history schema: one flat columnar table, one row per op.

Every op of a run (``send``, ``recv``, ``effect``, ``dead_letter``, ``fault``) is one row of the
same table; a column an op does not use is null. Times are float seconds on the run clock
(``harness.clock.now()``). Columns outside the schema are kept when read and ignored by checks.
See ``docs/history-format.md`` for the meaning of every column.
"""

from __future__ import annotations

from typing import Final

import pyarrow as pa

from harness.errors import HistoryError

FORMAT_VERSION: Final = 1

OPS: Final = ("send", "recv", "effect", "dead_letter", "fault")
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
            f"{field.type} ({error}); fix the writer or convert the column"
        ) from None


def first_invalid_row(table: pa.Table) -> tuple[int, str] | None:
    """The first row that breaks a rule of the format, with the reason; None when all hold.

    Rules: ``op`` is one of ``OPS``; every op but ``fault`` has an ``id``; ``status`` is null
    or one of ``STATUSES``. Vectorised: the row is only located once a rule fails.
    """
    import pyarrow.compute as pc

    op = table.column("op")
    bad_op = pc.invert(pc.fill_null(pc.is_in(op, pa.array(OPS)), False))
    missing_id = pc.and_(pc.not_equal(op, "fault"), pc.is_null(table.column("id")))
    status = table.column("status")
    bad_status = pc.and_(pc.is_valid(status), pc.invert(pc.is_in(status, pa.array(STATUSES))))
    checks = (
        (bad_op, "column 'op' must be one of " + ", ".join(OPS)),
        (pc.fill_null(missing_id, False), "column 'id' is required for every op but fault"),
        (bad_status, "column 'status' must be null or one of " + ", ".join(STATUSES)),
    )
    found: list[tuple[int, str]] = []
    for mask, reason in checks:
        if pc.any(mask).as_py():
            row = pc.index(mask, True).as_py()
            found.append((row, reason))
    if not found:
        return None
    row, reason = min(found)
    values = {name: table.column(name)[row].as_py() for name in ("op", "id", "status")}
    return (
        row,
        f"{reason} (got op={values['op']!r}, id={values['id']!r}, status={values['status']!r})",
    )


__all__ = [
    "FIELDS",
    "FORMAT_VERSION",
    "OPS",
    "SCHEMA",
    "STATUSES",
    "conform",
    "first_invalid_row",
    "unknown_fields",
]
