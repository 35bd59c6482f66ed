"""``database``: effects read from the service's own database by a SQL query the scenario gives.

    observe:
      - database:
          postgres: {}                 # or sqlite: {path: effects.db} (relative to the state dir)
          setup: ["CREATE TABLE effects (event_id text, applied_at timestamptz DEFAULT now())"]
          query: "SELECT event_id, EXTRACT(EPOCH FROM applied_at) FROM effects"
          env: DATABASE_URL

PostgreSQL: each run gets its own database ``run_<run id>`` on the stack's server (created, set
up with ``setup``, dropped at stop unless ``keep``), so runs never collide; the service is handed
a DSN to it *through the ``postgres`` Toxiproxy proxy*, so network faults on that proxy hit the
service. The harness itself reads on the server's own port where it has one (the local stack),
so a cut proxy slows the service and not the observer. SQLite: a file under the run's state dir.

The query returns one row per effect: ``(id, t)``, ``t`` as epoch seconds (a number, a
timestamp, or ISO text; absent or NULL: the time the row was first seen). Every poll re-reads
the whole result and keeps a count per id, so a row seen twice for one id is two effects (a
duplicate effect) and a row seen once is never recorded again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

from harness import clock
from harness.errors import ConfigError, StackError
from harness.observe.context import ObserveContext
from harness.observe.kinds._database_clients import (
    DatabaseClient,
    PollError,
    PostgresClient,
    SqliteClient,
)
from harness.observe.source import Source
from harness.scenario.observe import DatabaseSource

log = logging.getLogger(__name__)

DRAIN_INTERVAL_S = 0.2
QUIET_POLLS = 2  # drain ends after this many polls in a row found nothing new
_NAME_CHARS = re.compile(r"[^a-z0-9_]+")
MAX_IDENTIFIER = 63  # PostgreSQL's NAMEDATALEN - 1


def database_name(run_id: str) -> str:
    """The per-run PostgreSQL database: ``run_`` + the run id folded to a plain identifier."""
    folded = _NAME_CHARS.sub("_", run_id.lower()).strip("_") or "run"
    return f"run_{folded}"[:MAX_IDENTIFIER]


def sqlite_path(state_dir: Path, path: str) -> Path:
    """The SQLite file ``path`` names, inside the run's state dir; anything that would leave it
    (absolute, ``..``) is a ``ConfigError``."""
    pure = PurePosixPath(path)
    if not path.strip() or pure.is_absolute() or ".." in pure.parts or "\\" in path:
        raise ConfigError(
            f"observe database sqlite.path {path!r} must be a relative path inside the run's "
            "state dir (no leading '/', no '..'); give a file name such as 'effects.db'."
        )
    return Path(state_dir) / pure


def to_run_clock(value: object, wall_offset: float) -> float | None:
    """An effect time from a query (epoch seconds, timestamp, ISO text) on the run clock, or
    ``None`` when it names no time."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float | Decimal):
        epoch = float(value)
    elif isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        epoch = moment.timestamp()
    elif isinstance(value, str | bytes):
        epoch = _epoch_of_text(value.decode() if isinstance(value, bytes) else value)
        if epoch is None:
            return None
    else:
        return None
    if epoch != epoch or epoch in (float("inf"), float("-inf")):
        return None
    return epoch - wall_offset


def _epoch_of_text(text: str) -> float | None:
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def effect_id(value: object) -> str | None:
    """A row's id column as the history's event id (``None``: the row names no event)."""
    if value is None:
        return None
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


class EffectTally:
    """Row identity across polls that each return the whole result: a count per id.

    ``new_rows`` returns the rows beyond those already counted: a second row for an id is a new
    effect, a row seen before is not. Rows that disappear are not taken back.
    """

    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()
        self.null_ids = 0

    def new_rows(self, rows: Sequence[Sequence[Any]]) -> list[tuple[str, object]]:
        """``(id, raw t)`` of every row not counted yet, in time order per id."""
        raw = Counter(row[0] if row else None for row in rows)
        counts: Counter[str] = Counter()
        nulls = 0
        for value, n in raw.items():
            if isinstance(value, str):
                counts[value] += n
                continue
            key = effect_id(value)
            if key is None:
                nulls += n
            else:
                counts[key] += n
        self.null_ids = max(self.null_ids, nulls)
        seen = self.seen
        grown = {key: n for key, n in counts.items() if n > seen.get(key, 0)}
        if not grown:
            return []
        times: dict[str, list[object]] = {}
        for row in rows:
            key = (
                row[0] if row and isinstance(row[0], str) else (effect_id(row[0]) if row else None)
            )
            if key in grown:
                times.setdefault(key, []).append(row[1] if len(row) > 1 else None)
        fresh: list[tuple[str, object]] = []
        for key, values in times.items():
            if len(values) > 1:
                values.sort(key=_sort_key)
            fresh.extend((key, t) for t in values[seen.get(key, 0) :])
            seen[key] = grown[key]
        return fresh


def _sort_key(value: object) -> tuple[int, float]:
    t = to_run_clock(value, 0.0)
    return (1, 0.0) if t is None else (0, t)


class DatabaseObserver(Source[DatabaseSource]):
    """Polls the scenario's query and records one ``effect`` per row not seen before."""

    kind: ClassVar[str] = "database"
    observes: ClassVar[str] = "effect"

    def __init__(self, name: str, settings: DatabaseSource, ctx: ObserveContext) -> None:
        super().__init__(name, settings, ctx)
        self.tally = EffectTally()
        self.client: DatabaseClient = self._client()
        self.poll_interval = max(0.01, float(settings.poll_interval))
        for counter in ("polls", "poll_errors", "untimed"):
            self.count(counter, 0)
        self._poll_errors = 0
        self._offset = clock.wall_offset()
        self._poll_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._stopped = False

    def _client(self) -> DatabaseClient:
        if self.settings.sqlite is not None:
            return SqliteClient(sqlite_path(self.ctx.state_dir, self.settings.sqlite.path))
        if not self.ctx.stack.has_postgres:
            raise StackError(
                f"The scenario observes a PostgreSQL database (observe entry {self.name!r}), "
                "and the stack runs no PostgreSQL. Run `harness stack up --with postgres` (on a "
                "running stack it adds PostgreSQL), then run the scenario again."
            )
        database = database_name(self.ctx.run_id)
        return PostgresClient(self.ctx.stack, database, keep=self.settings.keep)

    async def start(self) -> None:
        await self.client.open(list(self.settings.setup))
        try:
            await self.client.fetch(self.settings.query)
        except PollError as error:
            raise ConfigError(
                f"observe {self.name!r}: the query {self.settings.query!r} fails on the freshly "
                f"set-up database ({error}). Fix the query or the setup statements."
            ) from error
        self._task = asyncio.create_task(self._poll_loop(), name=f"observe-{self.name}")

    def env(self) -> dict[str, str]:
        return {self.settings.env: self.client.service_address()}

    async def _poll_loop(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval)
            with contextlib.suppress(PollError):
                await self.poll()

    async def poll(self) -> int:
        """Read the query once; record what is new; return how many effects that was."""
        async with self._poll_lock:
            self.count("polls")
            try:
                rows = await self.client.fetch(self.settings.query)
            except PollError as error:
                self.count("poll_errors")
                self._poll_errors += 1
                if self._poll_errors in (1, 10, 100):
                    log.warning("observe %s: poll failed (%s); retrying", self.name, error)
                raise
            return self._record_rows(rows)

    def _record_rows(self, rows: Sequence[Sequence[Any]]) -> int:
        fresh = self.tally.new_rows(rows)
        if not fresh:
            return 0
        seen_at = clock.now()
        for event_id, raw in fresh:
            t = to_run_clock(raw, self._offset)
            if t is None:
                self.count("untimed")
                t = seen_at
            self.record(event_id, t)
        return len(fresh)

    async def drain(self, timeout_s: float) -> bool:
        """Poll until ``QUIET_POLLS`` polls in a row find nothing new; False at the deadline."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        quiet = 0
        while quiet < QUIET_POLLS:
            if loop.time() >= deadline:
                return False
            try:
                quiet = quiet + 1 if await self.poll() == 0 else 0
            except PollError:
                quiet = 0
            await asyncio.sleep(min(DRAIN_INTERVAL_S, max(0.0, deadline - loop.time())))
        return True

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self.client.close()

    def stats(self) -> dict[str, int]:
        return {**super().stats(), "null_ids": self.tally.null_ids}


def rows_to_effects(
    rows: Iterable[Sequence[Any]], wall_offset: float, seen_at: float
) -> list[tuple[str, float]]:
    """One poll on a fresh tally: ``(id, run-clock t)`` per row (pure; for tests and tools)."""
    tally = EffectTally()
    fresh = tally.new_rows(list(rows))
    out = []
    for event_id, raw in fresh:
        t = to_run_clock(raw, wall_offset)
        out.append((event_id, seen_at if t is None else t))
    return out


KIND = DatabaseObserver

__all__ = [
    "KIND",
    "DatabaseObserver",
    "EffectTally",
    "database_name",
    "effect_id",
    "rows_to_effects",
    "sqlite_path",
    "to_run_clock",
]
