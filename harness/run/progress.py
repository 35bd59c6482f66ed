"""Live progress of a run on the terminal: phase, events, active faults, time left.

A rich live line on a terminal; one plain line every few seconds otherwise (CI logs).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator

from rich.console import Console

from harness import clock
from harness.run.runner import RunStatus

PLAIN_EVERY_S = 5.0


def describe(status: RunStatus, name: str) -> str:
    stats = status.stats()
    elapsed = max(0.0, clock.now() - status.started_at) if status.started_at else 0.0
    left = max(0.0, status.storm_seconds - elapsed) if status.phase == "storm" else 0.0
    faults = "; ".join(status.faults) or "none"
    return (
        f"{name}: {status.phase:<7} sent {status.sent}/{status.planned}  "
        f"received {stats.get('received', 0)}  effects {stats.get('effects', 0)}  "
        f"dead-lettered {stats.get('dead_lettered', 0)}  elapsed {elapsed:5.1f}s  "
        f"left {left:5.1f}s  faults: {faults}"
    )


@contextlib.asynccontextmanager
async def show(status: RunStatus, name: str, enabled: bool = True) -> AsyncIterator[None]:
    """Show ``status`` while the body runs."""
    if not enabled:
        yield
        return
    console = Console(stderr=True)
    interactive = console.is_terminal
    task = asyncio.create_task(_loop(status, name, console, interactive))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if interactive:
            console.print(describe(status, name), highlight=False)


async def _loop(status: RunStatus, name: str, console: Console, interactive: bool) -> None:
    if interactive:
        with console.status(describe(status, name)) as spinner:
            while True:
                await asyncio.sleep(0.5)
                spinner.update(describe(status, name))
    while True:
        await asyncio.sleep(PLAIN_EVERY_S)
        print(describe(status, name), file=sys.stderr, flush=True)


__all__ = ["describe", "show"]
