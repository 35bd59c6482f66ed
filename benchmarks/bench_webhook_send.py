"""Benchmark: signed webhook deliveries/s (the provider-mode sender) against a bare aiohttp
client loop, both POSTing 0.5 KB bodies to one trivial aiohttp receiver, 64 at a time.

The receiver runs in its own process and answers 200 to every POST. The baseline is 64
coroutines sharing one ``aiohttp.ClientSession`` and POSTing the same bodies with no signature
and no recording; the sender signs every delivery (Standard Webhooks, HMAC-SHA256), applies
its retry policy (none is needed) and records each attempt and outcome. Rounds alternate so
both see the same machine state. Target (issue 11): ratio >= 0.8.

    .venv/bin/python benchmarks/bench_webhook_send.py [--requests 8000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import socket
import statistics
import subprocess
import sys
import time

import aiohttp

from harness.drivers import ListRecorder
from harness.drivers.webhook import WebhookConfig, WebhookSender, wait_listening
from harness.events import Event
from harness.webhooks import SCHEMES, RetryPolicy

CONCURRENCY = 64
BODY_SIZE = 512
RECEIVER = """
import sys
from aiohttp import web
async def ok(request):
    await request.read()
    return web.Response(status=200)
app = web.Application()
app.router.add_post("/hook", ok)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""


def events(n: int) -> list[Event]:
    out = []
    for i in range(n):
        head = f'{{"id":"e{i}","key":"k{i % 64}","seq":{i},"pad":"'.encode()
        body = head + b"x" * (BODY_SIZE - len(head) - 2) + b'"}'
        out.append(Event(f"e{i}", f"k{i % 64}", i, 0.0, 0.0, body))
    return out


async def bare(url: str, batch: list[Event]) -> float:
    connector = aiohttp.TCPConnector(limit=CONCURRENCY, limit_per_host=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:
        queue = iter(batch)

        async def worker() -> None:
            for event in queue:
                async with session.post(url, data=event.payload) as response:
                    await response.read()

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return len(batch) / (time.perf_counter() - start)


async def signed(url: str, batch: list[Event], secret: str) -> float:
    policy = RetryPolicy(delays=(0.01,), connect_timeout=5, total_timeout=10)
    config = WebhookConfig(url, SCHEMES["standard"], policy, (secret,),
                           max_connections=CONCURRENCY)  # fmt: skip
    recorder = ListRecorder()
    sender = WebhookSender(config, recorder)
    await sender.start()
    start = time.perf_counter()
    for event in batch:
        sender.send(event)
    assert await sender.flush(300.0)
    elapsed = time.perf_counter() - start
    await sender.close()
    ok = sender.counts["ok"]
    if ok != len(batch):
        raise SystemExit(f"only {ok} of {len(batch)} deliveries succeeded")
    return len(batch) / elapsed


async def main_async(args: argparse.Namespace) -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER, str(port)])
    try:
        if not await wait_listening("127.0.0.1", port, 20.0):
            raise SystemExit("the receiver did not start")
        url = f"http://127.0.0.1:{port}/hook"
        secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
        batch = events(args.requests)
        await bare(url, batch[:500])  # warm up both paths
        await signed(url, batch[:500], secret)
        bare_rates, signed_rates = [], []
        for _ in range(args.rounds):
            bare_rates.append(await bare(url, batch))
            signed_rates.append(await signed(url, batch, secret))
    finally:
        receiver.terminate()
        receiver.wait(10)
    b, w = statistics.median(bare_rates), statistics.median(signed_rates)
    # Rounds alternate, so each pair saw the same machine state: the ratio is taken per pair.
    ratios = [s / b for s, b in zip(signed_rates, bare_rates, strict=True)]
    print(f"requests per round: {args.requests}, concurrency {CONCURRENCY}, body {BODY_SIZE} B")
    print(
        f"bare aiohttp loop:   {b:8.0f} req/s  (rounds: {', '.join(f'{r:.0f}' for r in bare_rates)})"
    )
    print(
        f"signed deliveries:   {w:8.0f} req/s  (rounds: {', '.join(f'{r:.0f}' for r in signed_rates)})"
    )
    print(f"ratio per round:     {', '.join(f'{r:.2f}' for r in ratios)}")
    print(
        f"ratio signed/bare:   {statistics.median(ratios):8.2f}  (median of the rounds; target >= 0.8)"
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=8000)
    parser.add_argument("--rounds", type=int, default=5)
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
