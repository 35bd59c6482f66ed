"""How many effects/s the database source keeps up with on PostgreSQL, against a bare SELECT.

    .venv/bin/python benchmarks/bench_observe_postgres.py [--rows 10000 50000] [--repeat 3]

Needs the stack with PostgreSQL (`harness stack up --with postgres`). For each size N: the
source creates its per-run database and table, N rows are inserted (COPY), then

- bare: a psycopg ``SELECT event_id, EXTRACT(EPOCH FROM applied_at) FROM effects`` fetching
  every row (the least any poll costs), best of ``--repeat``;
- first poll: the source's poll on a fresh tally, recording all N effects into a real
  ``HistoryWriter`` (effects/s = N / time), best of ``--repeat`` (a fresh source each time);
- re-poll: a poll that finds nothing new (the steady cost of watching a table of N rows).

Prints the times, the effects/s, and the ratios first-poll/bare and re-poll/bare.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

from harness.history import HistoryWriter
from harness.observe import ObserveContext
from harness.observe.kinds._database_clients import with_database
from harness.observe.kinds.database import DatabaseObserver, database_name
from harness.scenario.observe import DatabaseSource, PostgresDatabase
from harness.stack import Stack

QUERY = "SELECT event_id, EXTRACT(EPOCH FROM applied_at) FROM effects"
SETUP = ["CREATE TABLE effects (event_id text NOT NULL, applied_at timestamptz NOT NULL)"]


def settings() -> DatabaseSource:
    # An hour between background polls: only the benchmark's own polls run.
    return DatabaseSource(postgres=PostgresDatabase(), setup=SETUP, query=QUERY, poll_interval=3600)


def source(stack: Stack, run_id: str, writer: HistoryWriter, work: Path) -> DatabaseObserver:
    ctx = ObserveContext(stack=stack, run_id=run_id, recorder=writer, work_dir=work,
                         state_dir=work, target_kind="kafka", destination="bench",
                         dead_letters="bench.dlq")  # fmt: skip
    return DatabaseObserver("bench", settings(), ctx)


async def fill(dsn: str, rows: int) -> None:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        base = time.time()
        async with conn.cursor() as cursor, cursor.copy("COPY effects FROM STDIN") as copy:
            for i in range(rows):
                await copy.write_row((f"e-{i}", _iso(base + i / 10_000)))


def _iso(epoch: float) -> str:
    return (
        time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch)) + f".{int(epoch % 1 * 1e6):06d}+00"
    )


async def bare_select(dsn: str, repeat: int) -> float:
    best = float("inf")
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        for _ in range(repeat):
            start = time.perf_counter()
            rows = await (await conn.execute(QUERY)).fetchall()
            best = min(best, time.perf_counter() - start)
            assert rows
    return best


async def measure(stack: Stack, rows: int, repeat: int, work: Path) -> dict[str, float]:
    run_id = f"bench-{uuid.uuid4().hex[:6]}"
    first, again = float("inf"), float("inf")
    with HistoryWriter(work / f"{run_id}.parquet") as writer:
        owner = source(stack, run_id, writer, work)
        owner.client.keep = True  # type: ignore[attr-defined]  # dropped below, once measured
        await owner.start()
        await owner.stop()
        direct = with_database(owner.client.direct, database_name(run_id))  # type: ignore[attr-defined]
        await fill(direct, rows)
        bare = await bare_select(direct, repeat)
        for _ in range(repeat):
            reader = source(stack, run_id, writer, work)  # not started: reads the filled database
            try:
                start = time.perf_counter()
                assert await reader.poll() == rows
                first = min(first, time.perf_counter() - start)
                start = time.perf_counter()
                assert await reader.poll() == 0
                again = min(again, time.perf_counter() - start)
            finally:
                await reader.client.close()
        await owner.client.drop()  # type: ignore[attr-defined]
    return {"rows": rows, "bare_s": bare, "first_s": first, "repoll_s": again}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    stack = Stack.load()
    stack.postgres_dsn  # noqa: B018  # refuses a stack without PostgreSQL, naming the fix
    with tempfile.TemporaryDirectory() as scratch:
        for rows in args.rows:
            m = await measure(stack, rows, args.repeat, Path(scratch))
            print(
                f"{rows:>7} rows: bare SELECT {m['bare_s'] * 1000:8.1f} ms | source first poll "
                f"{m['first_s'] * 1000:8.1f} ms = {rows / m['first_s']:>9,.0f} effects/s "
                f"(ratio {m['first_s'] / m['bare_s']:.2f}) | re-poll, nothing new "
                f"{m['repoll_s'] * 1000:7.1f} ms (ratio {m['repoll_s'] / m['bare_s']:.2f})"
            )


if __name__ == "__main__":
    asyncio.run(main())
