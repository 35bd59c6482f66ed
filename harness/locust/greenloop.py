"""An asyncio event loop hosted in a greenlet, so asyncio clients (nats-py) run under Locust.

Locust is gevent: its users are greenlets of one OS thread, and gevent's monkey-patching turns
``select`` and ``socket`` cooperative. An asyncio loop run in a greenlet of that thread waits
in the patched selector, which yields to gevent's hub, so the users run while the loop waits
for the network. Two things make it share fairly:

- A busy loop (thousands of PubAcks ready at once) would not wait in its selector and so would
  starve the users: a task in the loop yields to gevent every ``YIELD_S``.
- A user never touches the loop's objects directly: ``call`` hands a callable over with
  ``call_soon_threadsafe``, which wakes the selector through the loop's self-pipe, and ``run``
  waits for a coroutine's result with ``gevent.sleep``, never blocking the hub.

The loop is the OS thread's running loop while its greenlet lives: ``asyncio.run`` in another
greenlet of that process (the RabbitMQ user's lifecycle calls) would be refused, so one locust
process runs NATS users or RabbitMQ users, not both.

    >>> loop = GreenletLoop()
    >>> client = loop.run(make_client(), timeout_s=10)   # a coroutine, awaited on the loop
    >>> loop.call(client.send, event)                     # a plain call, made on the loop
    >>> loop.close()
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import gevent

YIELD_S = 0.002
"""How often the loop lets gevent's other greenlets run while it has work of its own."""
POLL_S = 0.005
"""How often ``run`` looks whether its coroutine finished."""

T = TypeVar("T")


class GreenletLoop:
    """One asyncio loop, run forever in its own greenlet until ``close``."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._greenlet = gevent.spawn(self._serve)
        gevent.sleep(0)  # let the loop start before anything is handed to it

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.create_task(self._share())
        try:
            self.loop.run_forever()
        finally:
            asyncio.set_event_loop(None)

    async def _share(self) -> None:
        while True:
            gevent.sleep(0)
            await asyncio.sleep(YIELD_S)

    def call(self, function: Callable[..., Any], *args: Any) -> None:
        """Call ``function(*args)`` on the loop, soon; never blocks."""
        self.loop.call_soon_threadsafe(function, *args)

    def run(self, coroutine: Coroutine[Any, Any, T], timeout_s: float) -> T:
        """Await ``coroutine`` on the loop and return its result (or raise its error); a
        ``TimeoutError`` when it takes longer than ``timeout_s`` (it is cancelled then)."""
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        with gevent.Timeout(timeout_s, False):
            while not future.done():
                gevent.sleep(POLL_S)
        if not future.done():
            future.cancel()
            raise TimeoutError(f"the NATS client did not finish within {timeout_s:g}s")
        return future.result()

    def close(self) -> None:
        """Stop the loop and close it. Idempotent."""
        if self.loop.is_closed():
            return
        if self._greenlet:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._greenlet.join(timeout=5)
        if not self.loop.is_running():
            for task in asyncio.all_tasks(self.loop):
                task.cancel()
            with contextlib.suppress(Exception):
                self.loop.run_until_complete(asyncio.sleep(0))
            self.loop.close()


__all__ = ["GreenletLoop"]
