"""What every observation source works with: the stack, the run's names and its history."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.drivers import Recorder
from harness.faults import Healer
from harness.stack import Stack
from harness.stack.toxiproxy import ToxiproxyClient


@dataclass
class ObserveContext:
    """One run's facts a source needs to find, create and clean up what it watches.

    ``destination`` is the run's input topic or queue and ``dead_letters`` the dead-letter
    topic or queue the service is told to use. ``healer`` takes the undo of anything a source
    creates that must not outlive the run (a proxy, a server process).
    """

    stack: Stack
    run_id: str
    recorder: Recorder
    work_dir: Path
    state_dir: Path
    target_kind: str
    destination: str
    dead_letters: str
    healer: Healer | None = None
    toxiproxy: ToxiproxyClient | None = None
    replication_factor: int = 1


__all__ = ["ObserveContext"]
