"""GreenletLoop: an asyncio loop hosted in a greenlet shares the thread with other greenlets.

Checked in a child process, because it needs gevent's monkey-patching (as under Locust) and
that must never touch the test process: a busy loop still lets a ticker greenlet run, a
coroutine's result and error come back through ``run``, ``call`` never blocks, and a coroutine
slower than its timeout is a ``TimeoutError``.
"""

from __future__ import annotations

import json
import subprocess
import sys

CHILD = r"""
from gevent import monkey
monkey.patch_all()
import asyncio, json, time
import gevent
from harness.locust.greenloop import GreenletLoop

loop = GreenletLoop()
ticks = [0]
def ticker():
    while True:
        ticks[0] += 1
        gevent.sleep(0.001)
gevent.spawn(ticker)

async def busy():  # thousands of ready callbacks: the loop never waits in its selector
    for _ in range(5000):
        await asyncio.sleep(0)
    return "done"

async def fails():
    raise ValueError("boom")

seen = []
before = ticks[0]
started = time.monotonic()
result = loop.run(busy(), timeout_s=30)
busy_s = time.monotonic() - started
loop.call(seen.append, 1)
gevent.sleep(0.05)
try:
    loop.run(fails(), timeout_s=5)
    error = None
except ValueError as caught:
    error = str(caught)
try:
    loop.run(asyncio.sleep(10), timeout_s=0.2)
    timeout = None
except TimeoutError as caught:
    timeout = str(caught)
loop.close()
loop.close()
print(json.dumps({"result": result, "ticks": ticks[0] - before, "busy_s": busy_s,
                  "seen": seen, "error": error, "timeout": timeout}))
"""


def test_a_loop_in_a_greenlet_shares_the_thread_and_returns_results() -> None:
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["result"] == "done" and out["seen"] == [1]
    assert out["error"] == "boom"
    assert out["timeout"] is not None and "0.2s" in out["timeout"]
    # while the loop was busy the ticker ran too: at least once per 20 ms of busy time
    assert out["ticks"] >= max(1, int(out["busy_s"] / 0.02)), out
