"""A run cancelled by SIGTERM is interrupted (130); one cancelled from inside, with no signal,
is a harness error (2) that says so, so that `harness explore` does not stop its search as if
the user had asked it to."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from scenario_support import MINIMAL_SCENARIO

from harness.run import commands
from harness.scenario import parse_scenario

SCENARIO = parse_scenario(MINIMAL_SCENARIO, "s.yaml")


def test_a_cancellation_without_a_signal_is_a_harness_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def cancelled_inside(*args: Any, **kwargs: Any) -> None:
        raise asyncio.CancelledError

    monkeypatch.setattr(commands, "run_scenario", cancelled_inside)
    outcome = commands.run_one(SCENARIO, tmp_path, 1, None, progress=False)  # type: ignore[arg-type]
    assert outcome.exit_code == 2
    assert outcome.error == commands.CANCELLED_INSIDE


def test_a_sigterm_is_an_interrupt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def terminated(*args: Any, **kwargs: Any) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.sleep(10)

    monkeypatch.setattr(commands, "run_scenario", terminated)
    outcome = commands.run_one(SCENARIO, tmp_path, 1, None, progress=False)  # type: ignore[arg-type]
    assert outcome.exit_code == commands.EXIT_INTERRUPTED
    assert outcome.error.startswith("terminated: faults healed")
