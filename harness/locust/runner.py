"""``run_locust_storm``: a scenario's storm sent by Locust (master + workers) instead of the pacer.

For ``load: {engine: locust}`` the scenario runner prepares the run as usual (topic or queue,
consumer, fault timeline), then calls ``run_locust_storm`` where it would run its own pacer.
This module imports no Locust: the workers are child processes running
``harness/locust/scenario_locustfile.py``, which reads the plan written here.
"""

from __future__ import annotations

import contextlib
import json
import socket
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness import clock
from harness.drivers import Recorder
from harness.history import read_history
from harness.locust.headless import HeadlessLocust, LocustResult
from harness.scenario.faults import duplicate_windows
from harness.scenario.models import Acks, DeliveryMode, Engine, Scenario
from harness.stack import Stack

PLAN_ENV = "HARNESS_LOCUST_PLAN"
PLAN_FILE = "locust-plan.json"
STARTUP_LEAD_S = 6.0
"""Seconds Locust needs to start a master and its workers and spawn users: give the storm at
least this much lead (``storm_start = clock.now() + STARTUP_LEAD_S``), or its first events
are sent late (recorded as schedule slip, never dropped)."""
ACK_TAIL_MAX_S = 30.0
LOCUSTFILE = Path(__file__).with_name("scenario_locustfile.py")


@dataclass(frozen=True)
class LocustPlan:
    """What every Locust worker needs to send its share of a scenario's storm."""

    kind: str
    destination: str
    storm: dict[str, Any]
    seed: int
    run_prefix: str
    storm_start: float
    users: int
    workers: int
    producer: dict[str, Any]
    bootstrap: str = ""
    amqp_url: str = ""
    durable: bool = True
    tail_s: float = ACK_TAIL_MAX_S
    duplicate_windows: list[tuple[float, float, float]] = field(default_factory=list)

    def save(self, path: Path) -> Path:
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")
        return path

    @classmethod
    def read(cls, path: Path) -> LocustPlan:
        return cls(**json.loads(Path(path).read_text()))


def plan_for(
    scenario: Scenario, stack: Stack, seed: int, storm_start: float, destination: str
) -> LocustPlan:
    """The plan of ``scenario``'s storm on ``stack`` (ids ``e{seed}-n``, as the pacer's)."""
    p = scenario.producer
    kafka = scenario.target.kafka is not None
    producer = {
        "acks": "all" if p.acks is Acks.ALL else int(p.acks.value),
        "enable_idempotence": p.enable_idempotence,
        "linger_ms": p.linger_ms,
        "request_timeout_ms": p.request_timeout_ms,
        "delivery_timeout_ms": p.delivery_timeout_ms,
        "confirms": p.confirms,
        "persistent": p.delivery_mode is DeliveryMode.PERSISTENT,
    }
    rabbit = scenario.target.rabbitmq
    return LocustPlan(
        kind="kafka" if kafka else "rabbitmq",
        destination=destination,
        storm=scenario.storm.model_dump(mode="json", by_alias=True),
        seed=seed,
        run_prefix=f"e{seed}",
        storm_start=storm_start,
        users=scenario.load.users,
        workers=scenario.load.workers,
        producer=producer,
        bootstrap=stack.kafka_bootstrap_servers if kafka else "",
        # No URL (and so no password) in the plan file kept with the run: the workers read it
        # from the stack state, as an empty ``url`` tells RabbitMQUser to.
        amqp_url="",
        durable=rabbit.durable if rabbit is not None else True,
        tail_s=min(scenario.drain.timeout, ACK_TAIL_MAX_S),
        duplicate_windows=duplicate_windows(scenario.faults, scenario.storm.duration),
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def run_locust_storm(
    scenario: Scenario,
    stack: Stack,
    recorder_dir: Path,
    seed: int,
    storm_start: float,
    *,
    destination: str,
    recorder: Recorder | None = None,
) -> LocustResult:
    """Send ``scenario``'s storm with Locust; return Locust's counts and the workers' shards.

    - ``recorder_dir``: where the plan, the shards, Locust's CSV stats and logs go;
    - ``storm_start``: run-clock time of the first intended send (see ``STARTUP_LEAD_S``);
    - ``destination``: the run's topic or queue, already created by the caller;
    - ``recorder``: if given (the run's ``HistoryWriter``), every shard row is appended to it
      once Locust has finished, so the run keeps one history.

    Returns when every worker has exited: the storm is over and every send has its outcome
    (or the ack tail, ``min(drain.timeout, 30 s)``, ran out: those sends are ``unknown``).
    Cancelling it (Ctrl-C) stops the Locust processes.
    """
    if scenario.load.engine is not Engine.LOCUST:
        raise ValueError(f"scenario {scenario.name!r} has load.engine {scenario.load.engine}")
    recorder_dir = Path(recorder_dir)
    recorder_dir.mkdir(parents=True, exist_ok=True)
    plan = plan_for(scenario, stack, seed, storm_start, destination)
    plan_path = plan.save(recorder_dir / PLAN_FILE)
    run_time = storm_start + scenario.storm.duration - clock.now() + plan.tail_s
    run = HeadlessLocust(
        LOCUSTFILE,
        recorder_dir,
        workers=scenario.load.workers,
        users=scenario.load.users,
        spawn_rate=scenario.load.spawn_rate,
        run_time_s=max(1.0, run_time),
        env={PLAN_ENV: str(plan_path)},
        master_port=_free_port(),
    )
    try:
        await run.start()
        result = await run.wait(timeout_s=run_time + 120.0)
    finally:
        with contextlib.suppress(Exception):
            await run.stop()
    if recorder is not None:
        copy_shards(result.shards, recorder)
    return result


def copy_shards(shards: list[Path], recorder: Recorder) -> int:
    """Append every row of ``shards`` to ``recorder`` (null columns left out); the count."""
    rows = 0
    for shard in shards:
        for row in read_history(shard).to_pylist():
            recorder.append({k: v for k, v in row.items() if v is not None})
            rows += 1
    return rows


__all__ = [
    "LOCUSTFILE",
    "PLAN_ENV",
    "STARTUP_LEAD_S",
    "LocustPlan",
    "copy_shards",
    "plan_for",
    "run_locust_storm",
]
