"""Which part a Locust process plays: the master of a distributed run, or one of its workers."""

from __future__ import annotations

from typing import Any


def is_master(environment: Any) -> bool:
    from locust.runners import MasterRunner

    return isinstance(environment.runner, MasterRunner)


def is_worker(environment: Any) -> bool:
    from locust.runners import WorkerRunner

    return isinstance(environment.runner, WorkerRunner)


__all__ = ["is_master", "is_worker"]
