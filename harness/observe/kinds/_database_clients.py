"""The two databases the ``database`` source reads: PostgreSQL (psycopg 3, async) and SQLite
(``sqlite3`` on a worker thread). Each makes the run's database, hands the service its address,
runs the scenario's setup and its query, and cleans up.

A failure to reach the database while polling is a ``PollError`` (the source retries: the
database may be killed or paused by a fault); a failure of the setup is a ``ConfigError``.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from harness.errors import ConfigError, StackError
from harness.safety import check_address, redact_text
from harness.stack import Stack

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5
ADMIN_DATABASE = "postgres"
Rows = list[tuple[Any, ...]]


class PollError(Exception):
    """The database could not be read this time (down, paused, cut off); try again later."""


class DatabaseClient(ABC):
    @abstractmethod
    async def open(self, setup: list[str]) -> None:
        """Make the run's database and run the setup statements, in order."""

    @abstractmethod
    def service_address(self) -> str:
        """What the service is handed in the scenario's env var (a DSN, a file path)."""

    @abstractmethod
    async def fetch(self, query: str) -> Rows:
        """Every row of ``query`` now; ``PollError`` when the database cannot answer."""

    @abstractmethod
    async def close(self) -> None:
        """Idempotent; never raises."""


def with_database(dsn: str, database: str, port: int | None = None) -> str:
    """``dsn`` naming another database (and port): a URL stays a URL, a conninfo a conninfo."""
    if "://" in dsn:
        parts = urlsplit(dsn)
        netloc = parts.netloc
        if port is not None:
            host = netloc.rpartition("@")[2].rpartition(":")[0] or netloc.rpartition("@")[2]
            user = netloc.rpartition("@")[0]
            netloc = f"{user}@{host}:{port}" if user else f"{host}:{port}"
        return urlunsplit(parts._replace(netloc=netloc, path=f"/{database}"))
    extra: dict[str, Any] = {"dbname": database}
    if port is not None:
        extra["port"] = port
    return make_conninfo(dsn, **extra)


def check_dsn(dsn: str) -> None:
    """Refuse a DSN whose host is off the allow-list (loopback unless ``HARNESS_ALLOW_HOSTS``)."""
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as error:
        raise ConfigError(
            f"The PostgreSQL DSN {redact_text(dsn)!r} is unreadable ({error}); give a URL such "
            "as postgresql://user:password@127.0.0.1:5432/dbname."
        ) from None
    hosts = str(params.get("host") or "").split(",")
    ports = str(params.get("port") or "5432").split(",")
    for index, host in enumerate(hosts):
        if not host or host.startswith("/"):
            raise ConfigError(
                f"The PostgreSQL DSN {redact_text(dsn)!r} names no TCP host; give host and port "
                "(the harness connects to checked addresses only)."
            )
        check_address(f"{host}:{ports[min(index, len(ports) - 1)]}")


class PostgresClient(DatabaseClient):
    """The run's own database ``database`` on the stack's PostgreSQL."""

    def __init__(self, stack: Stack, database: str, *, keep: bool = False) -> None:
        self.database = database
        self.keep = keep
        self.proxied = stack.postgres_dsn
        self.direct = self._direct(stack)
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._created = False
        self._closed = False

    @staticmethod
    def _direct(stack: Stack) -> str:
        """Where the harness itself reads: the server's own port when the stack has one (a cut
        proxy is a fault for the service, not a blind spot of the observer)."""
        node = stack.nodes.get("postgres")
        if stack.state.backend == "local" and node is not None and "sql" in node.ports:
            return with_database(stack.postgres_dsn, ADMIN_DATABASE, node.ports["sql"])
        return stack.postgres_dsn

    async def _connect(self, dsn: str) -> psycopg.AsyncConnection[Any]:
        check_dsn(dsn)
        return await psycopg.AsyncConnection.connect(
            dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S
        )

    async def _admin(self, statement: sql.Composable) -> None:
        try:
            async with await self._connect(self.direct) as admin:
                await admin.execute(statement)
        except psycopg.OperationalError as error:
            raise StackError(
                f"PostgreSQL at {redact_text(self.direct)!r} does not answer ({error}). Check "
                "`harness stack status`; start it with `harness stack up --with postgres`."
            ) from error

    async def open(self, setup: list[str]) -> None:
        name = sql.Identifier(self.database)
        await self._admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        await self._admin(sql.SQL("CREATE DATABASE {}").format(name))
        self._created = True
        conn = await self._run_connection()
        for statement in setup:
            try:
                await conn.execute(statement)  # type: ignore[arg-type]  # the scenario's SQL
            except psycopg.Error as error:
                raise ConfigError(
                    f"observe database setup statement {statement!r} failed: {error}. Fix it in "
                    "the scenario's observe.database.setup."
                ) from error

    async def _run_connection(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = await self._connect(with_database(self.direct, self.database))
        return self._conn

    def service_address(self) -> str:
        return with_database(self.proxied, self.database)

    async def fetch(self, query: str) -> Rows:
        try:
            conn = await self._run_connection()
            cursor = await conn.execute(query)  # type: ignore[arg-type]
            return await cursor.fetchall()
        except psycopg.OperationalError as error:
            await self._drop_connection()
            raise PollError(str(error).strip()) from error
        except psycopg.Error as error:  # a bad query: the table may not exist yet, say
            raise PollError(str(error).strip()) from error

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close()
            except psycopg.Error:
                pass

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._drop_connection()
        if self._created and not self.keep:
            try:
                await asyncio.wait_for(self.drop(), 30)
            except (StackError, TimeoutError, psycopg.Error) as error:
                log.warning("could not drop database %s: %s", self.database, error)

    async def drop(self) -> None:
        name = sql.Identifier(self.database)
        await self._admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))


class SqliteClient(DatabaseClient):
    """A SQLite file in the run's state dir (kept with the run's artifacts)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, timeout=5.0, check_same_thread=False)
        return self._conn

    def _setup(self, setup: list[str]) -> None:
        conn = self._connection()
        for statement in setup:
            try:
                conn.execute(statement)
            except sqlite3.Error as error:
                raise ConfigError(
                    f"observe database setup statement {statement!r} failed on {self.path}: "
                    f"{error}. Fix it in the scenario's observe.database.setup."
                ) from error
        conn.commit()

    async def open(self, setup: list[str]) -> None:
        async with self._lock:
            await asyncio.to_thread(self._setup, setup)

    def service_address(self) -> str:
        return str(self.path)

    def _fetch(self, query: str) -> Rows:
        conn = self._connection()
        try:
            rows = conn.execute(query).fetchall()
            conn.rollback()  # end the read transaction: the writer must not wait on us
            return rows
        except sqlite3.Error as error:
            raise PollError(str(error)) from error

    async def fetch(self, query: str) -> Rows:
        async with self._lock:
            return await asyncio.to_thread(self._fetch, query)

    async def close(self) -> None:
        async with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                await asyncio.to_thread(conn.close)


__all__ = [
    "DatabaseClient",
    "PollError",
    "PostgresClient",
    "SqliteClient",
    "check_dsn",
    "with_database",
]
