"""An order-webhook receiver: the example endpoint that the harness delivers webhooks to.

It receives Standard Webhooks deliveries (``webhook-id``, ``webhook-timestamp``,
``webhook-signature``) and stores each order in SQLite (the side effect the harness observes
through its ``database`` source). It imports nothing of the harness; the harness starts it with:

- ``HARNESS_WEBHOOK_LISTEN`` (``host:port``) and ``HARNESS_WEBHOOK_PATH``;
- ``HARNESS_WEBHOOK_SECRET_ENV``: the names of the variables holding the signing secrets
  (several during a key rotation; any of them verifies);
- ``EFFECTS_DB``: the SQLite file with the ``effects`` table the harness reads;
- ``HARNESS_MODE``: ``correct`` or ``buggy``;
- optionally ``HARNESS_OAUTH_ISSUER`` and ``HARNESS_OAUTH_AUDIENCE`` (and ``HARNESS_OAUTH_JWKS``,
  default ``<issuer>/jwks``): deliveries must then carry ``Authorization: Bearer <JWT>`` from
  that issuer for that audience, checked with PyJWT against the issuer's JWKS.

Two modes:

- ``correct``: verifies the signature and a timestamp within 5 minutes (401 otherwise, 400 for
  missing headers), records the delivery in a durable inbox keyed by the webhook id *before*
  answering (a redelivery of a known id is answered 200 and not applied again), answers 200 at
  once and applies the effect behind the response, from the inbox. An inbox entry not yet
  applied when the process dies is applied when it starts again.
  With an issuer configured it first checks the bearer token: RS256 only (``alg: none`` and
  every other algorithm refused), a ``kid`` the JWKS holds, ``iss``, ``aud`` and ``exp`` (30 s
  leeway); 401 otherwise, or 503 while the JWKS cannot be fetched. A bad signature under a
  known ``kid`` refetches the JWKS once (at most every 5 s) before refusing: the issuer may
  have rotated its key under the same ``kid``.
- ``buggy``: no signature check, no bearer check and no dedupe: every POST inserts another
  order.

SIGTERM stops it cleanly; SIGKILL is how a crash looks.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import os
import signal
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jwt
from aiohttp import web

TOLERANCE_S = 300
TOKEN_LEEWAY_S = 30
log = logging.getLogger("webhook_receiver")


def secret_key(secret: str) -> bytes:
    raw = secret.removeprefix("whsec_")
    return base64.b64decode(raw + "==")


def verify(headers: dict[str, str], body: bytes, keys: list[bytes]) -> int | None:
    """None when the delivery is authentic; else the status to refuse it with."""
    msg_id = headers.get("webhook-id")
    stamp = headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature")
    if not (msg_id and stamp and signatures):
        return 400
    try:
        sent = int(stamp)
    except ValueError:
        return 400
    if abs(time.time() - sent) > TOLERANCE_S:
        return 401
    content = f"{msg_id}.{sent}.".encode() + body
    expected = [hmac.new(key, content, hashlib.sha256).digest() for key in keys]
    for item in signatures.split():
        version, _, value = item.partition(",")
        if version != "v1":
            continue
        try:
            given = base64.b64decode(value, validate=True)
        except ValueError:
            continue
        if any(hmac.compare_digest(given, want) for want in expected):
            return None
    return 401


class Store:
    """The SQLite inbox and effects, on one thread of their own (sqlite3 blocks)."""

    def __init__(self, path: str) -> None:
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA busy_timeout=5000")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS inbox (id TEXT PRIMARY KEY, body BLOB, done INTEGER)"
        )
        self.db.execute("CREATE TABLE IF NOT EXISTS effects (event_id TEXT, applied_at REAL)")

    async def run(self, fn, *args):  # noqa: ANN001, ANN201
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    def remember(self, msg_id: str, body: bytes) -> bool:
        """Durably note a delivery; False if its id was already known."""
        cursor = self.db.execute(
            "INSERT OR IGNORE INTO inbox (id, body, done) VALUES (?, ?, 0)", (msg_id, body)
        )
        return cursor.rowcount == 1

    def apply(self, msg_id: str) -> None:
        """The effect and the inbox's done mark, in one transaction."""
        with self.db:
            self.db.execute("BEGIN")
            done = self.db.execute("SELECT done FROM inbox WHERE id = ?", (msg_id,)).fetchone()
            if done is None or done[0]:
                return
            self.db.execute(
                "INSERT INTO effects (event_id, applied_at) VALUES (?, ?)", (msg_id, time.time())
            )
            self.db.execute("UPDATE inbox SET done = 1 WHERE id = ?", (msg_id,))

    def apply_blindly(self, msg_id: str) -> None:
        self.db.execute(
            "INSERT INTO effects (event_id, applied_at) VALUES (?, ?)", (msg_id, time.time())
        )

    def pending(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT id FROM inbox WHERE done = 0 ORDER BY rowid")]


def event_id(headers: dict[str, str], body: bytes) -> str:
    import json

    msg_id = headers.get("webhook-id")
    if msg_id:
        return msg_id
    try:
        return str(json.loads(body)["id"])
    except (ValueError, KeyError, TypeError):
        return f"unknown-{time.time_ns()}"


class Bearer:
    """The bearer-token check: one issuer, one audience, keys from its JWKS (cached)."""

    REFETCH_COOLDOWN_S = 5.0

    def __init__(self, issuer: str, audience: str, jwks_url: str) -> None:
        self.issuer, self.audience = issuer, audience
        self.jwks = jwt.PyJWKClient(jwks_url, lifespan=300, timeout=5, cooldown_duration=5)
        self.refetched_at = float("-inf")

    def _decode(self, token: str, key: Any) -> None:
        jwt.decode(token, key, algorithms=["RS256"], audience=self.audience,
                   issuer=self.issuer, leeway=TOKEN_LEEWAY_S,
                   options={"require": ["exp", "iss", "aud"]})  # fmt: skip

    def _rotated_key(self, token: str) -> Any:
        """The key of the token's ``kid`` from a fresh JWKS: the issuer may have rotated its
        key under the same ``kid``. At most once per cooldown, so bad tokens cannot make
        this endpoint hammer the issuer."""
        now = time.monotonic()
        if now - self.refetched_at < self.REFETCH_COOLDOWN_S:
            raise jwt.InvalidSignatureError("signature invalid (JWKS refetched recently)")
        self.refetched_at = now
        kid = jwt.get_unverified_header(token).get("kid")
        for key in self.jwks.get_jwk_set(refresh=True).keys:
            if key.key_id == kid:
                return key.key
        raise jwt.InvalidSignatureError("no key of that kid after a refetch")

    def check(self, authorization: str | None) -> int | None:
        """None when the token is good; else the status to answer (401, or 503: no JWKS)."""
        if not authorization or not authorization.startswith("Bearer "):
            return 401
        token = authorization.removeprefix("Bearer ").strip()
        try:
            if jwt.get_unverified_header(token).get("alg") != "RS256":
                return 401
            key = self.jwks.get_signing_key_from_jwt(token).key
            try:
                self._decode(token, key)
            except jwt.InvalidSignatureError:
                self._decode(token, self._rotated_key(token))
        except jwt.PyJWKClientConnectionError:
            return 503
        except (jwt.PyJWKClientError, jwt.InvalidTokenError):
            return 401
        return None


def build_app(
    store: Store, keys: list[bytes], mode: str, path: str, bearer: Bearer | None = None
) -> web.Application:
    queue: asyncio.Queue[str] = asyncio.Queue()

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        if mode == "buggy":
            await store.run(store.apply_blindly, event_id(headers, body))
            return web.Response(status=200, text="ok")
        refusal = None
        if bearer is not None:
            refusal = await asyncio.to_thread(bearer.check, headers.get("authorization"))
        if refusal is None:
            refusal = verify(headers, body, keys)
        if refusal is not None:
            return web.Response(status=refusal, text="refused")
        msg_id = headers["webhook-id"]
        if await store.run(store.remember, msg_id, body):
            queue.put_nowait(msg_id)
        return web.Response(status=200, text="ok")

    async def worker(app: web.Application) -> None:
        while True:
            msg_id = await queue.get()
            await store.run(store.apply, msg_id)

    async def on_startup(app: web.Application) -> None:
        for msg_id in await store.run(store.pending):
            queue.put_nowait(msg_id)
        app["worker"] = asyncio.get_running_loop().create_task(worker(app))

    app = web.Application()
    app.router.add_post(path, receive)
    app.on_startup.append(on_startup)
    return app


async def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    host, _, port = os.environ.get("HARNESS_WEBHOOK_LISTEN", "127.0.0.1:18090").rpartition(":")
    path = os.environ.get("HARNESS_WEBHOOK_PATH", "/webhook").split("?")[0]
    mode = os.environ.get("HARNESS_MODE", "correct")
    names = [n for n in os.environ.get("HARNESS_WEBHOOK_SECRET_ENV", "WEBHOOK_SECRET").split(",")]
    keys = [secret_key(os.environ[n]) for n in names if os.environ.get(n)]
    if mode == "correct" and not keys:
        raise SystemExit(f"no signing secret: set {', '.join(names)}")
    issuer = os.environ.get("HARNESS_OAUTH_ISSUER", "")
    bearer = None
    if issuer:
        audience = os.environ.get("HARNESS_OAUTH_AUDIENCE", "")
        if not audience:
            raise SystemExit("HARNESS_OAUTH_ISSUER is set but HARNESS_OAUTH_AUDIENCE is not")
        jwks_url = os.environ.get("HARNESS_OAUTH_JWKS") or f"{issuer.rstrip('/')}/jwks"
        bearer = Bearer(issuer, audience, jwks_url)
    store = Store(os.environ.get("EFFECTS_DB", "effects.db"))
    app = build_app(store, keys, mode, path, bearer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, int(port)).start()
    checks = " with bearer tokens" if bearer is not None and mode == "correct" else ""
    log.info("listening on %s:%s%s (%s%s)", host, port, path, mode, checks)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
