"""An order consumer that stores every order event as a row in PostgreSQL.

A service as a team would write it: aiokafka and psycopg, its wiring from the environment, no
test hooks. The harness observes it from outside: the rows it writes are the effects.

Environment: ``HARNESS_KAFKA_BOOTSTRAP``, ``HARNESS_TOPIC``, ``HARNESS_GROUP`` (where to
consume), ``DATABASE_URL`` (the database; ``POSTGRES_CONSUMER_DSN_ENV`` names another variable),
``HARNESS_MODE`` (``correct`` or ``buggy``); its own settings ``POSTGRES_CONSUMER_BATCH_WAIT_MS``
(how long a fetch waits to fill a batch, default 500) and ``POSTGRES_CONSUMER_SESSION_TIMEOUT_MS``
(default 6000).

- ``buggy``: commits the batch's offsets to Kafka first, then inserts its rows one by one. A
  crash between the commit and the last insert loses the rest of the batch: those offsets are
  committed, so the events are never redelivered (``missing_effect``). A database outage widens
  that window: the consumer sits on a committed batch, retrying the insert.
- ``correct``: the rows and the next offsets of their partitions are written in ONE
  transaction (table ``consumer_offsets``); on start and on every assignment the consumer seeks
  to the offsets stored there. A crash anywhere either lost the whole transaction (the events
  are consumed again) or none of it. A retry after a lost connection re-reads the stored
  offsets first, so a transaction that did commit is not applied twice.

The ``orders`` table is the ground truth: one row per applied event.

    DATABASE_URL=postgresql://harness:...@127.0.0.1:5432/orders HARNESS_MODE=correct \\
    HARNESS_KAFKA_BOOTSTRAP=127.0.0.1:9091 HARNESS_TOPIC=orders HARNESS_GROUP=orders \\
    python examples/postgres_consumer.py
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

log = logging.getLogger("postgres_consumer")
T = TypeVar("T")

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS orders (
         event_id text NOT NULL, order_key text, seq integer, kafka_partition integer,
         kafka_offset bigint, applied_at timestamptz NOT NULL DEFAULT clock_timestamp())""",
    """CREATE TABLE IF NOT EXISTS consumer_offsets (
         group_id text NOT NULL, topic text NOT NULL, kafka_partition integer NOT NULL,
         next_offset bigint NOT NULL, PRIMARY KEY (group_id, topic, kafka_partition))""",
]
INSERT_ORDER = (
    "INSERT INTO orders (event_id, order_key, seq, kafka_partition, kafka_offset)"
    " VALUES (%s, %s, %s, %s, %s)"
)
UPSERT_OFFSET = (
    "INSERT INTO consumer_offsets (group_id, topic, kafka_partition, next_offset)"
    " VALUES (%s, %s, %s, %s) ON CONFLICT (group_id, topic, kafka_partition)"
    " DO UPDATE SET next_offset = EXCLUDED.next_offset"
)
SELECT_OFFSETS = (
    "SELECT kafka_partition, next_offset FROM consumer_offsets WHERE group_id = %s AND topic = %s"
)


@dataclass(frozen=True)
class Settings:
    bootstrap: str
    topic: str
    group: str
    dsn: str
    mode: str
    session_timeout_ms: int
    batch_wait_ms: int

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        mode = env.get("HARNESS_MODE", "correct")
        if mode not in ("correct", "buggy"):
            raise SystemExit(f"HARNESS_MODE must be 'correct' or 'buggy', not {mode!r}")
        dsn_var = env.get("POSTGRES_CONSUMER_DSN_ENV", "DATABASE_URL")
        try:
            return cls(
                bootstrap=env["HARNESS_KAFKA_BOOTSTRAP"],
                topic=env["HARNESS_TOPIC"],
                group=env["HARNESS_GROUP"],
                dsn=env[dsn_var],
                mode=mode,
                session_timeout_ms=int(env.get("POSTGRES_CONSUMER_SESSION_TIMEOUT_MS", "6000")),
                batch_wait_ms=int(env.get("POSTGRES_CONSUMER_BATCH_WAIT_MS", "500")),
            )
        except KeyError as missing:
            raise SystemExit(f"environment variable {missing} is not set") from None


def order_row(record: ConsumerRecord) -> tuple[Any, ...] | None:
    """(event id, key, seq, partition, offset), from the CloudEvents headers; None without id."""
    headers = {k: v for k, v in record.headers or ()}
    event_id = headers.get("ce_id")
    if not event_id:
        return None
    seq = headers.get("ce_seq")
    key = record.key.decode(errors="replace") if record.key else None
    return (event_id.decode(), key, int(seq) if seq else None, record.partition, record.offset)


class Database:
    """One connection, re-opened after any failure; every call retried until it succeeds (the
    database may be restarting or cut off for a while)."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.conn: psycopg.AsyncConnection[Any] | None = None

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        if self.conn is None or self.conn.closed:
            self.conn = await psycopg.AsyncConnection.connect(
                self.dsn, autocommit=True, connect_timeout=3
            )
        return self.conn

    async def retry(self, work: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]]) -> T:
        delay = 0.1
        while True:
            try:
                return await work(await self._connection())
            except psycopg.OperationalError as error:
                log.warning("database unavailable (%s); retrying in %.1fs", error, delay)
                if self.conn is not None:
                    await self.conn.close()
                self.conn = None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()


class Consumer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db = Database(settings.dsn)
        self.kafka = AIOKafkaConsumer(
            bootstrap_servers=settings.bootstrap,
            group_id=settings.group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=settings.session_timeout_ms,
            heartbeat_interval_ms=max(1000, settings.session_timeout_ms // 3),
            # Batches for the database: the broker answers a fetch once it has 256 KiB or the
            # wait is over, so a batch holds up to batch_wait_ms of events.
            fetch_min_bytes=262_144,
            fetch_max_wait_ms=settings.batch_wait_ms,
        )
        self.stopping = asyncio.Event()
        self.applied = 0

    # --- correct: rows and offsets in one transaction ---------------------------------------

    async def stored_offsets(self, conn: psycopg.AsyncConnection[Any]) -> dict[int, int]:
        cursor = await conn.execute(SELECT_OFFSETS, (self.settings.group, self.settings.topic))
        return {partition: offset for partition, offset in await cursor.fetchall()}

    async def seek_to_stored(self, partitions: set[TopicPartition]) -> None:
        stored = await self.db.retry(self.stored_offsets)
        for tp in partitions:
            if tp.partition in stored:
                self.kafka.seek(tp, stored[tp.partition])
            else:
                await self.kafka.seek_to_beginning(tp)
        log.info("assigned %s, resuming at %s", sorted(p.partition for p in partitions), stored)

    async def apply_atomically(self, batch: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        async def transaction(conn: psycopg.AsyncConnection[Any]) -> int:
            async with conn.transaction():
                stored = await self.stored_offsets(conn)  # a commit whose reply was lost
                rows, offsets = [], []
                for tp, records in batch.items():
                    fresh = [r for r in records if r.offset >= stored.get(tp.partition, 0)]
                    rows.extend(row for row in map(order_row, fresh) if row)
                    if fresh:
                        offsets.append((self.settings.group, self.settings.topic, tp.partition,
                                        fresh[-1].offset + 1))  # fmt: skip
                async with conn.cursor() as cursor:
                    if rows:
                        await cursor.executemany(INSERT_ORDER, rows)
                    if offsets:
                        await cursor.executemany(UPSERT_OFFSET, offsets)
                return len(rows)

        self.applied += await self.db.retry(transaction)
        # Kafka's offsets only follow the database's (for lag dashboards); never relied upon.
        try:
            await self.kafka.commit({tp: rs[-1].offset + 1 for tp, rs in batch.items() if rs})
        except (CommitFailedError, IllegalStateError, KafkaError) as error:
            log.info("kafka commit skipped (%s); the database holds the offsets", error)

    # --- buggy: commit, then insert ----------------------------------------------------------

    async def commit_then_insert(self, batch: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        try:
            await self.kafka.commit({tp: rs[-1].offset + 1 for tp, rs in batch.items() if rs})
        except (CommitFailedError, IllegalStateError, KafkaError) as error:
            log.warning("commit failed (%s); inserting anyway", error)
        for records in batch.values():
            for row in filter(None, map(order_row, records)):
                await self.db.retry(lambda conn, row=row: conn.execute(INSERT_ORDER, row))
                self.applied += 1

    async def run(self) -> None:
        await self.db.retry(self.create_schema)
        listener = Rebalance(self) if self.settings.mode == "correct" else None
        self.kafka.subscribe([self.settings.topic], listener=listener)
        await self.kafka.start()
        log.info("consuming %s in %s, mode %s", self.settings.topic, self.settings.group,
                 self.settings.mode)  # fmt: skip
        apply = (
            self.apply_atomically if self.settings.mode == "correct" else self.commit_then_insert
        )
        try:
            while not self.stopping.is_set():
                batch = await self.kafka.getmany(timeout_ms=self.settings.batch_wait_ms,
                                                 max_records=1000)  # fmt: skip
                if batch:
                    await apply(batch)
        finally:
            await self.kafka.stop()
            await self.db.close()
            log.info("stopped after %d rows", self.applied)

    async def create_schema(self, conn: psycopg.AsyncConnection[Any]) -> None:
        for statement in SCHEMA:
            await conn.execute(statement)


class Rebalance(ConsumerRebalanceListener):
    def __init__(self, consumer: Consumer) -> None:
        self.consumer = consumer

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        pass  # every applied batch is already committed with its offsets

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        if assigned:
            await self.consumer.seek_to_stored(assigned)


async def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    consumer = Consumer(Settings.from_env(os.environ))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, consumer.stopping.set)
    await consumer.run()


if __name__ == "__main__":
    asyncio.run(main())
