"""The example webhook receiver and bearer tokens from the stack's real mock-oauth2-server.

The receiver (``examples/webhook_receiver.py``, its own process) is pointed at the issuer's
proxied address. In ``correct`` mode a signed delivery with a token from the issuer for its
audience is taken (200), and the same delivery without a token, or with each security fault
token, is refused (401) before anything is stored; in ``buggy`` mode every one is taken, the
bug the fault tokens are there to show.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from harness.auth import ClientCredentialsSource
from harness.auth.faults import FaultTokens
from harness.stack import Stack, layout
from harness.webhooks import SCHEMES, fresh_secret
from tests.integration.integration_support import wait_for

RECEIVER = Path(__file__).resolve().parents[2] / "examples" / "webhook_receiver.py"
AUDIENCE = "api://orders-webhook"
PORT_BASE = 18295


@pytest.fixture(autouse=True)
def _heal_after_each_test(oauth_stack: Stack) -> Iterator[None]:
    yield
    oauth_stack.reload()
    oauth_stack.heal()


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((layout.HOST, port)) == 0


@pytest.fixture(params=["correct", "buggy"])
def receiver(
    request: pytest.FixtureRequest, oauth_stack: Stack, tmp_path: Path
) -> Iterator[tuple[str, str, Path, str]]:
    mode = str(request.param)
    port = PORT_BASE + layout.port_offset() + (0 if mode == "correct" else 1)
    secret = fresh_secret("standard")
    env = {**os.environ, "HARNESS_WEBHOOK_LISTEN": f"{layout.HOST}:{port}",
           "HARNESS_WEBHOOK_PATH": "/webhook", "WEBHOOK_SECRET": secret,
           "HARNESS_WEBHOOK_SECRET_ENV": "WEBHOOK_SECRET", "HARNESS_MODE": mode,
           "EFFECTS_DB": str(tmp_path / "effects.db"),
           "HARNESS_OAUTH_ISSUER": oauth_stack.oauth_issuer,
           "HARNESS_OAUTH_AUDIENCE": AUDIENCE}  # fmt: skip
    log = (tmp_path / "receiver.log").open("w")
    proc = subprocess.Popen([sys.executable, str(RECEIVER)], env=env, stdout=log,
                            stderr=subprocess.STDOUT)  # fmt: skip
    try:
        wait_for(lambda: proc.poll() is not None or _listening(port), 30, "the receiver")
        assert proc.poll() is None, (tmp_path / "receiver.log").read_text()
        yield mode, f"http://{layout.HOST}:{port}/webhook", tmp_path / "effects.db", secret
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


async def _post(url: str, secret: str, token: str | None) -> int:
    msg_id = f"msg_{uuid.uuid4().hex}"
    body = json.dumps({"id": msg_id, "amount": 1}).encode()
    headers = SCHEMES["standard"].sign(msg_id=msg_id, timestamp=int(time.time()), body=body,
                                       secrets=[secret])  # fmt: skip
    headers["Content-Type"] = "application/json"
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with aiohttp.ClientSession() as session, session.post(
        url, data=body, headers=headers
    ) as reply:
        return reply.status


def _effects(db: Path) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM inbox").fetchone()[0]) + int(
            conn.execute("SELECT count(*) FROM effects").fetchone()[0]
        )


async def test_the_receiver_checks_bearer_tokens_in_correct_mode_and_not_in_buggy(
    receiver: tuple[str, str, Path, str], oauth_stack: Stack
) -> None:
    mode, url, db, secret = receiver
    issuer = oauth_stack.oauth_issuer
    good = await ClientCredentialsSource(f"{issuer}/token", "provider", "x",
                                         scope=AUDIENCE).token()  # fmt: skip
    other = await ClientCredentialsSource(f"{issuer}/token", "provider", "x",
                                          scope="api://other").token()  # fmt: skip
    bad = {"missing": None, "issuer_wrong_audience": other,
           **FaultTokens(issuer, AUDIENCE).bad()}  # fmt: skip
    assert await _post(url, secret, good) == 200
    statuses = {name: await _post(url, secret, token) for name, token in bad.items()}
    if mode == "correct":
        assert statuses == {name: 401 for name in bad}
        wait_for(lambda: _effects(db) >= 2, 10, "the one good delivery to be applied")
        assert _effects(db) == 2  # one inbox row and one effect: only the good delivery
    else:
        assert statuses == {name: 200 for name in bad}


def test_the_oauth_scenario_pair_through_harness_run(oauth_stack: Stack, tmp_path: Path) -> None:
    """The shipped pair, as one suite: the issuer cut, slowed and its key rotated mid-storm,
    then every signature and token attack. Correct mode refuses all 13 and applies every event
    once; buggy mode takes all 13."""
    scenarios = Path(__file__).resolve().parents[2] / "scenarios"
    command = [sys.executable, "-m", "harness", "run", "--seed", "3", "--no-progress",
               "--out", str(tmp_path), str(scenarios / "webhook-oauth-correct.yaml"),
               str(scenarios / "webhook-oauth-buggy.yaml")]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    correct = json.loads((tmp_path / "webhook-oauth-correct" / "summary.json").read_text())
    buggy = json.loads((tmp_path / "webhook-oauth-buggy" / "summary.json").read_text())
    assert {k: v for k, v in correct["anomalies"].items() if v} == {}
    assert correct["counts"]["effects"] == correct["counts"]["events"] > 0
    assert buggy["anomalies"]["forged_accepted"] == 13
    assert [(f["kind"], f["target"]) for f in correct["faults"]] == [
        ("proxy.down", "oauth"), ("toxic.latency", "oauth"), ("issuer.key_rotation", "oauth"),
        ("webhook.attack", "endpoint"),
    ]  # fmt: skip
