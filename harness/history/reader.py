"""Reading a history from any of its forms: Parquet, JSON Lines, or a crashed run's partial file.

``read_history(path)`` returns a pyarrow table with every schema column present and typed (extra
columns kept after them). A run that was killed leaves ``<path>.partial.arrows``: an Arrow IPC
stream of the batches flushed so far. Reading it keeps every complete batch and drops a torn
last one; ``recover_partial`` turns it into the Parquet file the run would have written.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from harness.errors import HistoryError
from harness.history.jsonl import read_jsonl
from harness.history.schema import SCHEMA, check_utf8, conform, first_invalid_row, one_line

PARTIAL_SUFFIX = ".partial.arrows"
_JSON_SUFFIXES = (".jsonl", ".json", ".ndjson")


def partial_path(path: Path) -> Path:
    """Where a writer for ``path`` streams its batches while the run goes."""
    return path.with_name(path.name + PARTIAL_SUFFIX)


def read_history(path: Path | str) -> pa.Table:
    """Read a history file (.parquet, .jsonl/.json, or a leftover .partial.arrows)."""
    path = Path(path)
    if not path.exists():
        raise HistoryError(_missing_message(path))
    if not path.is_file():
        raise HistoryError(not_a_file(path))
    name = path.name.lower()
    if name.endswith(PARTIAL_SUFFIX):
        return read_partial(path)
    if name.endswith(_JSON_SUFFIXES):
        return read_jsonl(path)
    return _read_parquet(path)


def read_history_frame(path: Path | str) -> pd.DataFrame:
    """``read_history`` as a pandas DataFrame (nullable columns become nullable dtypes)."""
    return read_history(path).to_pandas(types_mapper=pd.ArrowDtype)


def read_partial(path: Path, *, validate: bool = True) -> pa.Table:
    """Every complete record batch of a partial stream; a torn last batch is dropped.

    An empty file (a writer killed before it wrote the stream's header) is an empty history;
    anything else that does not open as an Arrow IPC stream raises ``HistoryError``. Without
    ``validate`` the rows are returned as written (the writer keeps a run's history whole even
    if a row breaks a rule; checking it later names the row).
    """
    batches: list[pa.RecordBatch] = []
    try:
        if path.stat().st_size == 0:
            return SCHEMA.empty_table()
        reader = pa.ipc.open_stream(pa.OSFile(str(path), "rb"))
    except (pa.ArrowException, OSError) as error:
        raise HistoryError(
            f"{path}: not a partial history (an Arrow IPC stream written by the harness): "
            f"{one_line(error)}; give the run's history.parquet, or the .partial.arrows it left"
        ) from None
    while True:
        try:
            batches.append(reader.read_next_batch())
        except StopIteration:
            break
        except (pa.ArrowException, OSError):
            break  # a torn last batch: the writer was killed while writing it
    table = pa.Table.from_batches(batches, schema=reader.schema)
    return _checked(conform(table, source=str(path)), path) if validate else table


def recover_partial(partial: Path, out: Path | None = None) -> Path:
    """Write the complete batches of a leftover partial stream as Parquet; return its path.

    The partial file is removed only once the Parquet file is durably in place.
    """
    if out is None:
        if not partial.name.endswith(PARTIAL_SUFFIX):
            raise HistoryError(
                f"{partial}: not a partial history (name should end in {PARTIAL_SUFFIX}); "
                "give the output path with -o"
            )
        out = partial.with_name(partial.name[: -len(PARTIAL_SUFFIX)])
    write_parquet(read_partial(partial, validate=False), out)  # keep every row; check judges
    partial.unlink()
    return out


def write_parquet(table: pa.Table, out: Path) -> None:
    """Write ``table`` to ``out`` atomically (temporary file, fsync, rename)."""
    tmp = out.with_name(out.name + ".tmp")
    pq.write_table(table, tmp, compression="zstd")
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, out)


def _read_parquet(path: Path) -> pa.Table:
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as error:
        raise HistoryError(
            f"{path}: not a readable Parquet history ({one_line(error)}); give a .parquet, "
            ".jsonl/.json or .partial.arrows history (a crashed run's .partial.arrows is read "
            "by `harness history recover FILE`)"
        ) from None
    return _checked(conform(table, source=str(path)), path)


def _checked(table: pa.Table, path: Path) -> pa.Table:
    check_utf8(table, path)
    invalid = first_invalid_row(table)
    if invalid is not None:
        row, reason = invalid
        raise HistoryError(f"{path}, row {row}: {reason}")
    return table


def not_a_file(path: Path) -> str:
    """Why a folder, device or pipe is refused: it may be endless, or hold the real file."""
    if path.is_dir():
        return f"{path} is a folder; give the history file in it (history.parquet)"
    return f"{path} is not a regular file (a device or a pipe?); copy the history to a file first"


def _missing_message(path: Path) -> str:
    partial = partial_path(path)
    if partial.exists():
        return (
            f"{path} does not exist, but {partial} does: the run did not finish; "
            f"run `harness history recover {partial}` to keep what it recorded"
        )
    return f"{path} does not exist; check the path (a run writes runs/NAME/history.parquet)"


__all__ = [
    "PARTIAL_SUFFIX",
    "not_a_file",
    "partial_path",
    "read_history",
    "read_history_frame",
    "read_partial",
    "recover_partial",
    "write_parquet",
]
