"""Per-process history shards: every Locust worker process writes its own history file.

A shard is an ordinary history (``HistoryWriter``), named after the process's worker tag, with
that tag in every row's ``worker`` column. Ids never collide across shards (each user's ids
carry its worker tag, or come from disjoint shares of one storm), so ``harness history merge``
joins them into one history that ``harness check`` and the reports read unchanged.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.history import HistoryWriter

SHARD_GLOB = "shard-*.parquet"
HISTORY_DIR_ENV = "HARNESS_LOCUST_HISTORY_DIR"
DEFAULT_HISTORY_DIR = "locust-history"


def worker_tag() -> str:
    """``<host>-<pid>``: unique per process on a machine, readable in a history."""
    host = socket.gethostname().split(".")[0] or "host"
    return f"{host}-{os.getpid()}"


def history_dir(configured: str | os.PathLike[str] | None = None) -> Path:
    """Where shards go: ``configured``, else ``$HARNESS_LOCUST_HISTORY_DIR``, else
    ``./locust-history``."""
    return Path(configured or os.environ.get(HISTORY_DIR_ENV) or DEFAULT_HISTORY_DIR)


class ShardRecorder:
    """A ``Recorder`` that stamps ``worker`` on every row and writes this process's shard.

    ``shard-<worker>-<n>.parquet`` in ``directory``; ``n`` counts the tests this process ran
    (a web-UI user may start several), so a restart never overwrites a finished shard.
    """

    _numbers: dict[str, int] = {}
    _lock = threading.Lock()

    def __init__(self, directory: Path, worker: str | None = None) -> None:
        self.worker = worker or worker_tag()
        with self._lock:
            number = self._numbers.get(self.worker, 0)
            self._numbers[self.worker] = number + 1
        self.path = Path(directory) / f"shard-{self.worker}-{number}.parquet"
        self._writer = HistoryWriter(self.path)
        self.rows = 0

    def append(self, record: Mapping[str, Any]) -> None:
        row = dict(record)
        row["worker"] = self.worker
        self._writer.append(row)
        self.rows += 1

    def close(self) -> Path:
        """Finish the shard (Parquet); idempotent. Returns its path."""
        self._writer.close()
        return self.path


def shards_in(directory: Path) -> list[Path]:
    """The finished shards in ``directory``, sorted."""
    return sorted(Path(directory).glob(SHARD_GLOB))


__all__ = [
    "DEFAULT_HISTORY_DIR",
    "HISTORY_DIR_ENV",
    "SHARD_GLOB",
    "ShardRecorder",
    "history_dir",
    "shards_in",
    "worker_tag",
]
