"""Turn a history (table, DataFrame or file) into compact numpy columns per op kind.

Every id is replaced by an integer code shared by all ops (one hash pass over the ids), keys
and groups likewise; nulls become sentinels (``-1`` for codes and positions, ``NULL_SEQ`` for
seq, NaN for times). Checks then work on integer arrays only. Parquet files are read one row
group at a time, and only the columns the checks use, so memory stays near the size of the
numeric columns rather than of the whole file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from harness.errors import HistoryError
from harness.history import read_jsonl
from harness.history.reader import PARTIAL_SUFFIX, not_a_file, read_history
from harness.history.schema import (
    OPS,
    SCHEMA,
    STATUSES,
    TIME_COLUMNS,
    breaks_value_rules,
    check_utf8,
    conform,
    first_invalid_row,
    one_line,
)
from harness.observe.output_contract import CONTRACT_HELD, INVALID_OUTPUT
from harness.vocabulary import OBSERVED_PREFIX, SCHEMA_PLAN_FILE

NULL_SEQ = np.iinfo(np.int64).min
OK, FAIL, UNKNOWN = 0, 1, 2
SEND, RECV, EFFECT, DEAD_LETTER, FAULT, OBSERVE, REQUEST = range(7)

_USED = {
    SEND: (
        "id",
        "key",
        "seq",
        "t",
        "t_intended",
        "t_ack",
        "status",
        "partition",
        "offset",
        "poison",
    ),
    RECV: ("id", "key", "seq", "t", "group", "partition", "offset", "source"),
    EFFECT: ("id", "key", "seq", "t", "source", "status"),
    DEAD_LETTER: ("id", "t", "source"),
    REQUEST: (
        "id", "t", "t_ack", "http_status", "retry_after", "attempt", "msg_id", "signature",
        "reason",
    ),
}
_FAULT_COLUMNS = ("kind", "target", "t_start", "t_end", "reason")
_READ = (
    "op",
    "id",
    "key",
    "seq",
    "t",
    "t_intended",
    "t_ack",
    "status",
    "partition",
    "offset",
    "poison",
    "group",
    "source",
    "http_status",
    "retry_after",
    "attempt",
    "msg_id",
    "signature",
    "policy",
    *_FAULT_COLUMNS,  # ``reason`` among them: webhook attempts use it too
)
READ_COLUMNS = _READ
"""The columns a check reads from a history file (the rest are never read)."""
WEBHOOK_SOURCES = ("webhook", "webhook_attack")
"""``request`` rows of these sources are the harness's own webhook deliveries (provider mode),
not calls a downstream received: they go to ``Prepared.webhook``, not ``requests``."""
_WEBHOOK_COLUMNS = ("id", "t", "t_ack", "http_status", "attempt", "reason", "source")
_AS_DICTIONARY = ("op", "key", "status", "group", "kind", "target", "source", "signature")
SIGNATURE_VALID = "valid"
"""A webhook receiver's ``signature`` verdict for a request that verified."""
# A request's ``reason`` when a schema was checked starts ``invalid_output`` (the body broke it)
# or is ``contract_held``: ``Ops.reason`` of requests is 1 and 0 for those, and -1 for any
# other reason or none (nothing was checked).


@dataclass
class Ops:
    """The rows of one op kind as numpy columns (only the columns that kind uses)."""

    id: np.ndarray
    columns: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.id)

    def where(self, mask: np.ndarray) -> Ops:
        """The rows where ``mask`` holds."""
        return Ops(id=self.id[mask], columns={k: v[mask] for k, v in self.columns.items()})

    def __getattr__(self, name: str) -> np.ndarray:
        try:
            return self.columns[name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass
class Prepared:
    """A history ready for the checks: ids coded ``0..n_ids-1`` across every op."""

    sends: Ops
    recvs: Ops
    effects: Ops
    dead: Ops
    faults: pd.DataFrame
    id_names: pa.Array
    group_names: list[str | None]
    requests: Ops = field(default_factory=lambda: Ops(np.zeros(0, np.int64)))
    """Calls an HTTP downstream played by the harness received (``t_ack``: answered, NaN when
    no answer left; ``http_status`` -1 then; ``retry_after`` NaN when none was sent)."""
    observed: frozenset[str] = frozenset()
    """The ops (``effect``, ``dead_letter``) a black-box source observed for this run. For
    these, only observed rows count (a service's own reports of them are not trusted)."""
    reported: dict[str, int] = field(default_factory=dict)
    """Rows of an observed op that the checks set aside because they were only reported."""
    policies: dict[str, str] = field(default_factory=dict)
    """The retry policy (JSON) each webhook receiver declared for its sender, by source (and
    each fan-out subscriber's expected keys, ``harness.checks.fanout``)."""
    key_names: list[str | None] = field(default_factory=list)
    """The key of each key code (the ``key`` columns of the ops are codes)."""
    endpoints: list[str | None] = field(default_factory=list)
    """The ``source`` of request rows, indexed by their ``endpoint`` code."""
    webhook: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=_WEBHOOK_COLUMNS))
    """Every attempt of the harness's webhook deliveries (``source`` ``webhook``) and every
    security-fault delivery (``webhook_attack``, its ``reason`` the attack), ids as text."""
    schema_plan: pa.Table | None = None
    """A schema-driven run's plan (``id``, ``must_read``), read from beside the history file
    (``harness.vocabulary.SCHEMA_PLAN_FILE``); None for other runs."""

    @property
    def black_box(self) -> bool:
        """Effects were observed from outside and no delivery was reported: what the service
        received is unknown, so delivery checks do not apply and effects are owed for every
        acknowledged event."""
        return "effect" in self.observed and len(self.recvs) == 0

    @property
    def n_ids(self) -> int:
        return len(self.id_names)

    @property
    def n_rows(self) -> int:
        """How many ops the history holds, of every kind."""
        ops = (self.sends, self.recvs, self.effects, self.dead, self.requests)
        return sum(len(o) for o in ops) + len(self.faults)

    def names(self, codes: np.ndarray) -> list[str]:
        """The id strings of ``codes`` (for examples)."""
        return [str(v) for v in self.id_names.take(pa.array(codes, pa.int64())).to_pylist()]


def prepare(history: pd.DataFrame | pa.Table) -> Prepared:
    """Prepare an in-memory history (validated as a file would be)."""
    if isinstance(history, pd.DataFrame):
        history = pa.Table.from_pandas(history, preserve_index=False)
    table = conform(history, source="history")
    invalid = first_invalid_row(table)
    if invalid is not None:
        raise HistoryError(f"history, row {invalid[0]}: {invalid[1]}")
    return _one_chunk(table)


def prepare_file(path: Path) -> Prepared:
    """Prepare a history file; Parquet is streamed by row group. A schema-driven run's plan
    beside it comes with it."""
    prepared = _prepare_file(path)
    prepared.schema_plan = read_schema_plan(path)
    return prepared


def read_schema_plan(history_path: Path) -> pa.Table | None:
    """The schema plan beside a history file, or None when the run was not schema-driven."""
    path = Path(history_path).parent / SCHEMA_PLAN_FILE
    if not path.is_file():
        return None
    try:
        return pq.read_table(path, columns=["id", "must_read"])
    except (pa.ArrowException, OSError, KeyError) as error:
        raise HistoryError(f"{path}: not a schema plan ({one_line(error)})") from None


def _prepare_file(path: Path) -> Prepared:
    name = path.name.lower()
    if path.exists() and not path.is_file():
        raise HistoryError(not_a_file(path))
    if name.endswith((".jsonl", ".json", ".ndjson")):
        return _one_chunk(read_jsonl(path, keep_extra=False))
    if name.endswith(PARTIAL_SUFFIX) or not path.exists():
        return prepare(read_history(path))
    try:
        reader = _open_parquet(path)
        ops = [
            _lookup(reader.read_row_group(i, columns=["op"]).column("op"), OPS)
            for i in range(reader.num_row_groups)
        ]
        sizes = _sizes(np.concatenate(ops)) if ops else _sizes(np.zeros(0, np.int8))
        return _assemble(_parquet_chunks(path, reader, ops), sizes)
    except (pa.ArrowException, OSError) as error:  # a file damaged past its footer
        raise HistoryError(
            f"{path}: not a readable Parquet history ({type(error).__name__}: {one_line(error)}); "
            "write it again, or recover it from the run's .partial.arrows"
        ) from None


def _open_parquet(path: Path) -> pq.ParquetFile:
    try:
        schema = pq.read_schema(path)
        strings = [n for n in _AS_DICTIONARY if n in schema.names and _is_text(schema.field(n))]
        reader = pq.ParquetFile(path, read_dictionary=strings)
    except (pa.ArrowInvalid, OSError) as error:
        raise HistoryError(
            f"{path}: not a readable Parquet history ({one_line(error)}); write it again, or "
            "recover it from the run's .partial.arrows with `harness history recover FILE`"
        ) from None
    if "op" not in reader.schema_arrow.names:
        raise HistoryError(
            f"{path}: column 'op' is missing; every history row needs an op: add the column "
            "(docs/history-format.md)"
        )
    op = reader.schema_arrow.field("op")
    if not _is_text(op) and not (pa.types.is_dictionary(op.type) and _is_text(op.type.value_type)):
        raise HistoryError(
            f"{path}: column 'op' has type {op.type}, but it must be a string column "
            f"({', '.join(OPS)}); fix the writer or convert the column"
        )
    return reader


def _is_text(field: pa.Field | pa.DataType) -> bool:
    kind = field.type if isinstance(field, pa.Field) else field
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


def _parquet_chunks(
    path: Path, reader: pq.ParquetFile, ops: list[np.ndarray]
) -> Iterator[tuple[pa.Table, np.ndarray]]:
    present = [name for name in _READ if name in reader.schema_arrow.names and name != "op"]
    first_row = 0
    for index, op in enumerate(ops):
        chunk = _with_missing(reader.read_row_group(index, columns=present), path)
        check_utf8(chunk, path, first_row)
        invalid = _first_invalid(
            chunk, op, lambda i=index: reader.read_row_group(i, columns=["op"]).column("op")
        )
        if invalid is not None:
            raise HistoryError(f"{path}, row {first_row + invalid[0]}: {invalid[1]}")
        first_row += chunk.num_rows
        yield chunk, op


def _with_missing(chunk: pa.Table, path: Path) -> pa.Table:
    for name in _READ[1:]:
        if name in chunk.column_names:
            column = chunk.column(name)
            wanted = SCHEMA.field(name).type
            plain = column.type.value_type if pa.types.is_dictionary(column.type) else column.type
            if plain != wanted:
                chunk = chunk.set_column(
                    chunk.column_names.index(name),
                    name,
                    conform(pa.table({name: column}), source=str(path)).column(name),
                )
        else:
            chunk = chunk.append_column(name, pa.nulls(chunk.num_rows, SCHEMA.field(name).type))
    return chunk.select(list(_READ[1:]))


def _first_invalid(
    chunk: pa.Table, op: np.ndarray, op_column: Callable[[], pa.ChunkedArray]
) -> tuple[int, str] | None:
    status = _lookup(chunk.column("status"), STATUSES)
    keyed = (op != FAULT) & (op != OBSERVE)
    bad = (op < 0) | (keyed & _is_null(chunk.column("id"))) | (status == -2)
    if not bad.any() and not breaks_value_rules(chunk):
        return None
    plain = {"op": _plain(op_column()), "id": _plain(chunk.column("id"))}
    plain["status"] = _plain(chunk.column("status"))
    plain |= {name: chunk.column(name) for name in (*TIME_COLUMNS, "seq")}
    return first_invalid_row(conform(pa.table(plain), source="history"))


class _Coder:
    """Stable integer codes for a low-cardinality string column, across chunks; null is -1."""

    def __init__(self) -> None:
        self.codes: dict[str, int] = {}

    def encode(self, column: pa.ChunkedArray) -> np.ndarray:
        parts = [self._chunk(c) for c in column.chunks]
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    def names(self) -> list[str]:
        return list(self.codes)

    def _chunk(self, chunk: pa.Array) -> np.ndarray:
        if not pa.types.is_dictionary(chunk.type):
            chunk = pc.dictionary_encode(chunk)
        values = chunk.dictionary.to_pylist()
        lut = np.array([self.codes.setdefault(v, len(self.codes)) for v in values] + [-1])
        return lut[pc.fill_null(chunk.indices, len(values)).to_numpy()]


class _Builder:
    """Fills preallocated numpy columns per op kind chunk by chunk; ids stay strings till the end.

    Sizes are known up front (from the op column), so columns are written in place rather
    than concatenated, which would double their memory for a moment.
    """

    def __init__(self, sizes: dict[int, int]) -> None:
        self.sizes = sizes
        self.filled = dict.fromkeys(_USED, 0)
        self.columns = {
            kind: {name: np.empty(sizes[kind], _DTYPES[name]) for name in names[1:]}
            for kind, names in _USED.items()
        }
        self.ids: dict[int, list[pa.Array]] = {k: [] for k in _USED}
        self.faults: list[pa.Table] = []
        self.keys = _Coder()
        self.groups = _Coder()
        self.msg_ids = _Coder()
        self.endpoints = _Coder()
        self.endpoint_codes: list[np.ndarray] = []
        self.observed: set[str] = set()
        self.policies: dict[str, str] = {}
        self.webhook: list[pa.Table] = []

    def add(self, chunk: pa.Table, op: np.ndarray) -> None:
        requests = op == REQUEST
        if requests.any():
            source = pc.is_in(_plain(chunk.column("source")), pa.array(WEBHOOK_SOURCES))
            hook = requests & pc.fill_null(source, False).to_numpy(zero_copy_only=False)
            if hook.any():
                rows = np.flatnonzero(hook)
                self.webhook.append(chunk.select(list(_WEBHOOK_COLUMNS)).take(rows))
                op = op.copy()
                op[rows] = -1  # not a downstream's call
        whole: dict[str, np.ndarray] = {}  # a column shared by several kinds, converted once
        for kind, names in _USED.items():
            rows = np.flatnonzero(op == kind)
            if len(rows) == 0:
                continue
            at = slice(self.filled[kind], self.filled[kind] + len(rows))
            self.ids[kind].extend(_plain(chunk.column("id")).take(rows).chunks)
            for name in names[1:]:
                if name in _CODED:  # codes follow first appearance per kind: code the rows
                    values = self._numeric(name, chunk.column(name).take(rows))
                else:
                    if name not in whole:
                        whole[name] = self._numeric(name, chunk.column(name))
                    values = whole[name][rows]
                self.columns[kind][name][at] = values
            self.filled[kind] = at.stop
            if kind == REQUEST:
                self.endpoint_codes.append(self.endpoints.encode(chunk.column("source").take(rows)))
        faults = np.flatnonzero(op == FAULT)
        if len(faults):
            self.faults.append(chunk.select(list(_FAULT_COLUMNS)).take(faults))
        declared = np.flatnonzero(op == OBSERVE)
        if len(declared):
            kinds = _plain(chunk.column("kind")).take(declared).to_pylist()
            self.observed.update(str(kind) for kind in kinds if kind)
            for source, policy in zip(
                _plain(chunk.column("source")).take(declared).to_pylist(),
                _plain(chunk.column("policy")).take(declared).to_pylist(),
                strict=True,
            ):
                if policy is not None:
                    self.policies[str(source)] = str(policy)

    def build(self) -> Prepared:
        id_codes, id_names = _encode_ids([c for k in _USED for c in self.ids.pop(k)])
        ops: dict[int, Ops] = {}
        start = 0
        for kind in _USED:
            size = self.filled[kind]
            columns = {name: v[:size] for name, v in self.columns[kind].items()}
            ops[kind] = Ops(id=id_codes[start : start + size], columns=columns)
            start += size
        group_names: list[str | None] = list(self.groups.names())
        if (ops[RECV].group == -1).any():
            ops[RECV].group[ops[RECV].group == -1] = len(group_names)
            group_names.append(None)
        faults = pa.concat_tables(self.faults) if self.faults else None
        codes = self.endpoint_codes
        ops[REQUEST].columns["endpoint"] = np.concatenate(codes) if codes else np.zeros(0, int)
        reported = {}
        for kind, name in ((EFFECT, "effect"), (DEAD_LETTER, "dead_letter"), (RECV, "recv")):
            if name in self.observed:
                reported[name] = int((~ops[kind].source).sum())
                ops[kind] = ops[kind].where(ops[kind].source)
        _fill_event_fields(ops[EFFECT], ops[SEND], len(id_names))
        _fill_event_fields(ops[RECV], ops[SEND], len(id_names))
        return Prepared(
            sends=ops[SEND],
            recvs=ops[RECV],
            effects=ops[EFFECT],
            dead=ops[DEAD_LETTER],
            requests=ops[REQUEST],
            faults=_faults_frame(faults),
            id_names=id_names,
            group_names=group_names,
            observed=frozenset(self.observed),
            reported=reported,
            policies=self.policies,
            key_names=list(self.keys.names()),
            endpoints=list(self.endpoints.names()),
            webhook=_webhook_frame(self.webhook),
        )

    def _numeric(self, name: str, column: pa.ChunkedArray) -> np.ndarray:
        if name in ("t", "t_intended", "t_ack", "retry_after"):
            return _floats(column)
        if name in ("partition", "offset", "http_status", "attempt"):
            return _ints(column, -1)
        if name == "signature":
            text = _plain(column)
            bad = pc.fill_null(pc.not_equal(text, SIGNATURE_VALID), False).to_numpy(
                zero_copy_only=False
            )
            return np.where(_is_null(text), -1, bad.astype(np.int8))
        if name == "reason":
            text = _plain(column)
            broke = pc.fill_null(pc.starts_with(text, INVALID_OUTPUT), False)
            held = pc.fill_null(pc.equal(text, CONTRACT_HELD), False)
            code = np.where(held.to_numpy(zero_copy_only=False), 0, -1)
            return np.where(broke.to_numpy(zero_copy_only=False), 1, code).astype(np.int8)
        if name == "msg_id":
            return self.msg_ids.encode(column)
        if name == "seq":
            return _ints(column, NULL_SEQ)
        if name == "status":
            return _lookup(column, STATUSES)
        if name == "poison":
            return _ints(column, 0).astype(bool)
        if name == "source":
            text = _plain(column)
            return pc.fill_null(pc.starts_with(text, OBSERVED_PREFIX), False).to_numpy(
                zero_copy_only=False
            )
        coder = self.keys if name == "key" else self.groups
        return coder.encode(column)


def _webhook_frame(parts: list[pa.Table]) -> pd.DataFrame:
    if not parts:
        return pd.DataFrame(columns=_WEBHOOK_COLUMNS)
    table = pa.concat_tables([_decoded(t) for t in parts])
    return table.to_pandas()


def _decoded(table: pa.Table) -> pa.Table:
    """``table`` with dictionary columns as plain ones (chunks may differ in dictionaries)."""
    return pa.table({name: _plain(table.column(name)) for name in table.column_names})


_CODED = frozenset({"key", "group", "msg_id"})
"""Columns coded by a ``_Coder`` (the rest are converted value by value)."""

_DTYPES: dict[str, type] = {
    "t": np.float64,
    "t_intended": np.float64,
    "t_ack": np.float64,
    "partition": np.int32,
    "offset": np.int64,
    "seq": np.int64,
    "status": np.int8,
    "poison": np.bool_,
    "key": np.int32,
    "group": np.int32,
    "source": np.bool_,
    "http_status": np.int32,
    "retry_after": np.float64,
    "attempt": np.int32,
    "msg_id": np.int64,
    "signature": np.int8,
    "reason": np.int8,
}


def _fill_event_fields(effects: Ops, sends: Ops, n_ids: int) -> None:
    """Give effects without a key or seq those of their event's send: a black-box source sees
    the service's output, which need not carry the input's key and sequence number."""
    bare = (effects.key < 0) | (effects.seq == NULL_SEQ)
    if not bare.any() or len(sends) == 0:
        return
    key = np.full(n_ids, -1, np.int32)
    seq = np.full(n_ids, NULL_SEQ, np.int64)
    key[sends.id] = sends.key
    seq[sends.id] = sends.seq
    rows = np.flatnonzero(bare)
    ids = effects.id[rows]
    effects.key[rows] = np.where(effects.key[rows] < 0, key[ids], effects.key[rows])
    effects.seq[rows] = np.where(effects.seq[rows] == NULL_SEQ, seq[ids], effects.seq[rows])


def _assemble(chunks: Iterable[tuple[pa.Table, np.ndarray]], sizes: dict[int, int]) -> Prepared:
    builder = _Builder(sizes)
    for chunk, op in chunks:
        builder.add(chunk, op)
    return builder.build()


def _sizes(op: np.ndarray) -> dict[int, int]:
    counts = np.bincount(op[op >= 0], minlength=len(OPS))
    return {kind: int(counts[kind]) for kind in range(len(OPS))}


def _one_chunk(table: pa.Table) -> Prepared:
    op = _lookup(table.column("op"), OPS)
    return _assemble([(table.select(list(_READ)), op)], _sizes(op))


def _faults_frame(table: pa.Table | None) -> pd.DataFrame:
    if table is None:
        return pd.DataFrame({"kind": [], "target": [], "t_start": [], "t_end": [], "reason": []})
    plain = pa.table({n: _plain(table.column(n)) for n in _FAULT_COLUMNS})
    return plain.to_pandas()


def _encode_ids(chunks: list[pa.Array]) -> tuple[np.ndarray, pa.Array]:
    if not chunks:
        return np.zeros(0, np.int64), pa.array([], pa.string())
    encoded = pc.dictionary_encode(pa.chunked_array(chunks, type=pa.string()))
    codes = np.concatenate([c.indices.to_numpy(zero_copy_only=False) for c in encoded.chunks])
    return codes.astype(np.int64, copy=False), encoded.chunks[-1].dictionary


def _lookup(column: pa.ChunkedArray, values: tuple[str, ...]) -> np.ndarray:
    """Index of each value in ``values``; -1 for nulls, -2 for anything else (int8)."""
    if pa.types.is_dictionary(column.type):
        out = [_lookup_dictionary(chunk, values) for chunk in column.chunks]
        return np.concatenate(out) if out else np.zeros(0, np.int8)
    index = pc.index_in(column, value_set=pa.array(values))
    codes = pc.fill_null(index, -2).to_numpy().astype(np.int8)
    codes[_is_null(column)] = -1
    return codes


def _lookup_dictionary(chunk: pa.DictionaryArray, values: tuple[str, ...]) -> np.ndarray:
    table = np.array(
        [values.index(v) if v in values else -2 for v in chunk.dictionary.to_pylist()] + [-1],
        np.int8,
    )
    indices = pc.fill_null(chunk.indices, len(chunk.dictionary)).to_numpy()
    return table[indices]


def _plain(column: pa.ChunkedArray) -> pa.ChunkedArray:
    if pa.types.is_dictionary(column.type):
        return column.cast(column.type.value_type)
    return column


def _is_null(column: pa.ChunkedArray) -> np.ndarray:
    return pc.is_null(column).to_numpy(zero_copy_only=False)


def _floats(column: pa.ChunkedArray) -> np.ndarray:
    return pc.fill_null(column, np.nan).to_numpy().astype(np.float64, copy=False)


def _ints(column: pa.ChunkedArray, null: int) -> np.ndarray:
    return pc.fill_null(column.cast(pa.int64()), null).to_numpy()


def dense_codes(values: np.ndarray) -> np.ndarray:
    """Non-negative int codes equal iff values are equal, compact enough to index an array.

    Values that already fit (at most a few times their count) are used as they are.
    """
    if len(values) == 0 or int(values.max()) <= 8 * len(values) + 1_000_000:
        return values
    codes, _ = pd.factorize(values)
    return codes.astype(np.int64, copy=False)


__all__ = [
    "FAIL",
    "NULL_SEQ",
    "OK",
    "READ_COLUMNS",
    "SIGNATURE_VALID",
    "UNKNOWN",
    "Ops",
    "Prepared",
    "dense_codes",
    "prepare",
    "prepare_file",
]
