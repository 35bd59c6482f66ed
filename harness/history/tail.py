"""Following a partial history stream while its writer (another process) appends to it.

``PartialTail.new_batches()`` returns the record batches written since the last call: it
reopens the stream memory-mapped (zero-copy; only the batches' headers are read again), skips
the batches it already returned and stops at the end or at a batch still being written. A
missing or empty file has no batches yet; ``rows`` counts the rows returned so far.

    tail = PartialTail(shard / "shard-0.parquet.partial.arrows")
    metrics.observe(tail.new_batches())
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa


class PartialTail:
    """The batches of one growing ``.partial.arrows`` stream, each returned once."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.batches = 0
        self.rows = 0

    def new_batches(self) -> list[pa.RecordBatch]:
        try:
            if self.path.stat().st_size == 0:
                return []
            source = pa.memory_map(str(self.path), "r")
        except OSError:  # not written yet, or finished and removed
            return []
        found: list[pa.RecordBatch] = []
        try:
            reader = pa.ipc.open_stream(source)
            index = 0
            while True:
                batch = reader.read_next_batch()
                if index >= self.batches:
                    found.append(batch)  # its buffers keep their region of the map alive
                index += 1
        except (StopIteration, pa.ArrowException, OSError):
            pass  # the end, or a batch the writer has not finished
        self.batches += len(found)
        self.rows += sum(b.num_rows for b in found)
        return found


__all__ = ["PartialTail"]
