"""One storm shard in its own process: ``python -m harness.run.storm_shard PLAN INDEX``.

The parent (``harness.run.shards``) writes the plan; this process rebuilds the run's storm
from (spec, seed) alone, keeps the rows of its keys (``Storm.split``), releases each at its
intended time and writes a history shard ``shard-<INDEX>.parquet`` of its ``send`` rows, plus
``shard-<INDEX>.json`` (counts and schedule slip) and ``shard-<INDEX>.slip.npy``.

Two Kafka clients:

- ``confluent`` (librdkafka): no event loop at all. The loop sleeps in ``poll(timeout)`` until
  the next intended time (delivery reports are served while it waits), produces what is due,
  and records every outcome into preallocated numpy columns, one slot per storm row: no row
  dict, no pending object, no lock per event. Completed rows go to the shard as one Arrow batch
  per ``FLUSH_S`` (durable, so a killed shard loses at most that).
- ``aiokafka``: the in-process engine's own pacer and driver, on this process's event loop.

A problem the shard can name (an unsafe broker address, no topic) goes to
``shard-<INDEX>.error`` and the process exits 2; the parent raises it as the run's one error.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from harness import clock
from harness.errors import HarnessError
from harness.history import HistoryWriter
from harness.load import Pacer, Storm, build_storm
from harness.load.pacer import SlipStats
from harness.scenario import StormSpec

FLUSH_S = 1.0
"""Seconds between durable writes of completed rows to the shard."""
POLL_MAX_S = 0.05
"""Longest single wait in ``poll`` (so a SIGTERM or the storm's end is seen promptly)."""
STAMP_EVERY = 32
"""Rows handed over per reading of the clock: the send time (``t``, ``ce_sent``, ``ce_time``)
of a row is read before its run of at most this many ``produce`` calls (a few microseconds
early at most); formatting two times per row cost more than the ``produce`` itself."""
_OK, _FAIL, _UNKNOWN, _PENDING = 0, 1, 2, 3
_STATUS = np.array(["ok", "fail", "unknown", "unknown"], dtype=object)


@dataclass(frozen=True)
class ShardPlan:
    """What every shard process of a run reads (one JSON file)."""

    directory: str
    storm: dict[str, Any]
    seed: int
    run_prefix: str
    duplicate_windows: list[tuple[float, float, float]]
    processes: int
    client: str
    bootstrap: str
    topic: str
    producer: dict[str, Any]
    tail_s: float

    def save(self, path: Path) -> Path:
        path.write_text(json.dumps(self.__dict__, indent=1) + "\n", encoding="utf-8")
        return path

    @classmethod
    def read(cls, path: Path) -> ShardPlan:
        return cls(**json.loads(Path(path).read_text(encoding="utf-8")))


def shard_path(directory: Path, index: int, suffix: str) -> Path:
    return Path(directory) / f"shard-{index}{suffix}"


def shard_storm(plan: ShardPlan, index: int) -> Storm:
    """The rows of shard ``index``: the run's storm, dealt by key."""
    windows = [tuple(w) for w in plan.duplicate_windows]
    storm = build_storm(
        StormSpec.model_validate(plan.storm),
        plan.seed,
        run_prefix=plan.run_prefix,
        duplicate_windows=windows,  # type: ignore[arg-type]
    )
    return storm.split(plan.processes)[index] if plan.processes > 1 else storm


class _WallTime:
    """``rfc3339(t + offset)`` with the date and second formatted once per second."""

    def __init__(self, offset: float) -> None:
        self.offset = offset
        self._second = -1
        self._prefix = ""

    def __call__(self, t: float) -> bytes:
        wall = t + self.offset
        second = int(wall)
        if second != self._second:
            self._second = second
            self._prefix = datetime.fromtimestamp(second, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
        micros = int(round((wall - second) * 1e6))
        if micros >= 1_000_000:  # rounding reached the next second: format it exactly
            text = datetime.fromtimestamp(wall, tz=UTC).isoformat()[:-6] + "Z"
            return text.encode()
        if micros == 0:
            return (self._prefix + "Z").encode()
        return f"{self._prefix}.{micros:06d}Z".encode()


class ColumnarSends:
    """The outcome of every row of a shard's storm, as numpy columns (one slot per row)."""

    def __init__(self, storm: Storm, producer: str) -> None:
        n = len(storm)
        self.storm = storm
        self.producer = producer
        self.t = np.full(n, np.nan)
        self.t_ack = np.full(n, np.nan)
        self.status = np.full(n, _PENDING, dtype=np.int8)
        self.partition = np.full(n, -1, dtype=np.int32)
        self.offset = np.full(n, -1, dtype=np.int64)
        self.errors: dict[int, str] = {}
        self.done: list[int] = []
        self.counts = {"sent": 0, "ok": 0, "fail": 0, "unknown": 0}

    def table(self, rows: np.ndarray, intended: np.ndarray) -> pa.Table:
        """The ``send`` rows of ``rows`` as one history table."""
        s = self.storm
        status = self.status[rows]
        part = self.partition[rows]
        offset = self.offset[rows]
        has_pos = part >= 0
        errors = [self.errors.get(int(r)) for r in rows] if self.errors else None
        return pa.table(
            {
                "op": pa.array(np.full(len(rows), "send", dtype=object), pa.string()),
                "id": pa.array(s.id[rows], pa.string()),
                "key": pa.array(s.key[rows], pa.string()),
                "seq": pa.array(s.seq[rows].astype(np.int64)),
                "t": pa.array(self.t[rows]),
                "t_intended": pa.array(intended[rows]),
                "t_ack": pa.array(self.t_ack[rows]),
                "status": pa.array(_STATUS[status], pa.string()),
                "error": pa.array(
                    errors if errors is not None else [None] * len(rows), pa.string()
                ),
                "partition": pa.array(part, mask=~has_pos),
                "offset": pa.array(offset, mask=~has_pos | (offset < 0)),
                "producer": pa.array(np.full(len(rows), self.producer, dtype=object), pa.string()),
                "poison": pa.array(s.poison[rows]),
            }
        )


def wait_for_start() -> float:
    """Say ``ready`` on stdout, then read the storm's start (run clock) from stdin: every shard
    is connected before the parent fixes the start, so no shard starts late."""
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    line = sys.stdin.readline()
    if not line.strip():
        raise KeyboardInterrupt  # the parent went away before the start
    return float(line)


def run_confluent(plan: ShardPlan, index: int, storm: Storm, writer: HistoryWriter) -> np.ndarray:
    """Send ``storm`` with librdkafka on a plain loop; return the release slip of every row."""
    from confluent_kafka import Producer

    from harness.locust.rdkafka import (
        RdKafkaConfig,
        check_rdkafka_brokers,
        classify_rdkafka,
        describe_rdkafka,
    )

    p = plan.producer
    config = RdKafkaConfig(
        bootstrap=plan.bootstrap,
        topic=plan.topic,
        acks=p["acks"],
        enable_idempotence=p["enable_idempotence"],
        linger_ms=p["linger_ms"],
        request_timeout_ms=p["request_timeout_ms"],
        delivery_timeout_ms=p["delivery_timeout_ms"],
        client_id=f"harness-shard-{index}",
        extra={"batch.size": p["batch_size"]},
    )
    producer = Producer(config.client_config())
    check_rdkafka_brokers(producer)
    sends = ColumnarSends(storm, f"shard-{index}")
    slip = np.full(len(storm), np.nan)
    t_col, t_ack, status, partition, offsets = (
        sends.t,
        sends.t_ack,
        sends.status,
        sends.partition,
        sends.offset,
    )
    done, errors, now = sends.done, sends.errors, clock.now
    wall = _WallTime(clock.wall_offset())
    ids = [i.encode() for i in storm.id.tolist()]
    keys = storm.key.tolist()
    key_bytes = {k: k.encode() for k in set(keys)}
    seqs = [str(q).encode() for q in storm.seq.tolist()]
    poison = [b"true" if x else b"false" for x in storm.poison.tolist()]
    producer.poll(0)
    intended = storm.t_offset + wait_for_start()
    intended_at = intended.tolist()
    source, kind = b"/harness/storm", b"dev.harness.storm.order"
    content = ("content-type", b"application/json")
    spec = ("ce_specversion", b"1.0")
    produce, poll, topic, payload = producer.produce, producer.poll, plan.topic, storm.payload

    def delivered(row: int, error: Any, message: Any) -> None:
        t_ack[row] = now()
        if error is None:
            status[row] = _OK
            position = message.offset()
            if position is not None and position >= 0:
                partition[row] = message.partition()
                offsets[row] = position
        else:
            status[row] = _FAIL if classify_rdkafka(error).value == "fail" else _UNKNOWN
            errors[row] = describe_rdkafka(error)
        done.append(row)

    def flush() -> None:
        if done:
            rows = np.array(done[: len(done)], dtype=np.int64)
            del done[: len(rows)]
            writer.append_table(sends.table(rows, intended), source=f"shard {index}")

    total, released, next_flush = len(storm), 0, now() + FLUSH_S
    while released < total:
        t = now()
        wait = intended_at[released] - t
        if wait > 0:
            poll(min(wait, POLL_MAX_S))
            continue
        due = int(np.searchsorted(intended, t, side="right"))
        slip[released:due] = t - intended[released:due]
        for row in range(released, due):
            if (row - released) % STAMP_EVERY == 0:
                t = now()
                sent_time, sent_text = ("ce_time", wall(t)), ("ce_sent", repr(t).encode())
            key = key_bytes[keys[row]]
            headers = [
                spec,
                ("ce_id", ids[row]),
                ("ce_source", source),
                ("ce_type", kind),
                sent_time,
                ("ce_partitionkey", key),
                ("ce_seq", seqs[row]),
                ("ce_intended", repr(intended_at[row]).encode()),
                sent_text,
                ("ce_poison", poison[row]),
                content,
            ]
            t_col[row] = t
            try:
                produce(
                    topic,
                    payload(row),
                    key,
                    headers=headers,
                    on_delivery=lambda e, m, r=row: delivered(r, e, m),
                )
            except BufferError:
                t_ack[row], status[row] = now(), _FAIL
                errors[row] = "BufferError: librdkafka's queue is full"
                done.append(row)
            except Exception as exc:  # KafkaException: not queued
                t_ack[row], status[row] = now(), _FAIL
                errors[row] = repr(exc)
                done.append(row)
        released = due
        poll(0)
        if t >= next_flush:
            flush()
            next_flush = t + FLUSH_S
    deadline = now() + plan.tail_s
    while np.any(status == _PENDING) and now() < deadline:
        poll(POLL_MAX_S)
        if now() >= next_flush:
            flush()
            next_flush = now() + FLUSH_S
    if np.any(status == _PENDING):  # still unanswered: purge, then record what is left unknown
        producer.purge(in_queue=True, in_flight=True, blocking=False)
        producer.poll(1.0)
        left = np.flatnonzero(status == _PENDING)
        t_ack[left] = now()
        status[left] = _UNKNOWN
        for row in left.tolist():
            errors[row] = "Unresolved: producer closed before an answer"
        done.extend(left.tolist())
    flush()
    for name, code in (("ok", _OK), ("fail", _FAIL), ("unknown", _UNKNOWN)):
        sends.counts[name] = int(np.count_nonzero(status == code))
    sends.counts["sent"] = int(np.count_nonzero(~np.isnan(t_col)))
    return slip


def run_aiokafka(plan: ShardPlan, index: int, storm: Storm, writer: HistoryWriter) -> np.ndarray:
    """Send ``storm`` with the engine's aiokafka driver and pacer on this process's loop."""
    from harness.drivers import KafkaProducerConfig, KafkaProducerDriver

    p = plan.producer
    driver = KafkaProducerDriver(
        KafkaProducerConfig(
            bootstrap=plan.bootstrap,
            topic=plan.topic,
            acks=p["acks"],
            enable_idempotence=p["enable_idempotence"],
            linger_ms=p["linger_ms"],
            max_batch_size=p["batch_size"],
            request_timeout_ms=p["request_timeout_ms"],
            delivery_timeout_s=p["delivery_timeout_ms"] / 1000.0,
            client_id=f"harness-shard-{index}",
        ),
        writer,
        name=f"shard-{index}",
    )

    async def storm_loop() -> np.ndarray:
        await driver.start()
        try:
            pacer = Pacer(storm.t_offset, wait_for_start())
            event, send, intended = storm.event, driver.send, pacer.intended
            async for batch in pacer.batches():
                t = clock.now()
                for row in range(batch.start, batch.stop):
                    send(event(row, float(intended[row]), t))
            await driver.flush(plan.tail_s)
        finally:
            await driver.close(5.0)
        return pacer.slip

    return asyncio.run(storm_loop())


def main(argv: list[str]) -> int:
    plan_file, index = Path(argv[0]), int(argv[1])
    plan = ShardPlan.read(plan_file)
    directory = Path(plan.directory)
    # SIGTERM (the parent stopping the run) ends the shard as Ctrl-C would: history kept.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    storm = shard_storm(plan, index)
    writer = HistoryWriter(shard_path(directory, index, ".parquet"))
    code = 0
    try:
        run = run_confluent if plan.client == "confluent" else run_aiokafka
        slip = run(plan, index, storm, writer)
        np.save(shard_path(directory, index, ".slip.npy"), slip)
        stats = SlipStats.of(slip)
        summary = {"index": index, "events": len(storm), "slip": stats.__dict__}
        shard_path(directory, index, ".json").write_text(json.dumps(summary) + "\n")
    except KeyboardInterrupt:
        code = 130
    except HarnessError as error:
        shard_path(directory, index, ".error").write_text(str(error) + "\n", encoding="utf-8")
        code = 2
    finally:
        writer.close()
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
