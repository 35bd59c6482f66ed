"""The run history: the single truth every check and report reads.

One flat table, one row per op (send, recv, effect, dead_letter, fault); see
``docs/history-format.md``. Write with ``HistoryWriter``, read with ``read_history``.
"""

from harness.history.jsonl import read_jsonl, write_jsonl
from harness.history.reader import (
    partial_path,
    read_history,
    read_history_frame,
    read_partial,
    recover_partial,
)
from harness.history.schema import FORMAT_VERSION, OPS, SCHEMA, STATUSES
from harness.history.writer import HistoryWriter

__all__ = [
    "FORMAT_VERSION",
    "OPS",
    "SCHEMA",
    "STATUSES",
    "HistoryWriter",
    "partial_path",
    "read_history",
    "read_history_frame",
    "read_jsonl",
    "read_partial",
    "recover_partial",
    "write_jsonl",
]
