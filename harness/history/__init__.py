"""The run history: the single truth every check and report reads.

One flat table, one row per op (send, recv, effect, dead_letter, fault); see
``docs/history-format.md``. Write with ``HistoryWriter``, read with ``read_history``.
"""

from harness.history.jsonl import read_jsonl, write_jsonl
from harness.history.merge import merge_histories
from harness.history.reader import (
    PARTIAL_SUFFIX,
    partial_path,
    read_history,
    read_history_frame,
    read_partial,
    recover_partial,
)
from harness.history.schema import FIELDS, FORMAT_VERSION, OPS, SCHEMA, STATUSES, conform
from harness.history.writer import HistoryWriter

__all__ = [
    "FIELDS",
    "FORMAT_VERSION",
    "OPS",
    "PARTIAL_SUFFIX",
    "SCHEMA",
    "STATUSES",
    "HistoryWriter",
    "conform",
    "merge_histories",
    "partial_path",
    "read_history",
    "read_history_frame",
    "read_jsonl",
    "read_partial",
    "recover_partial",
    "write_jsonl",
]
