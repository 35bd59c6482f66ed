"""Each worker's run-clock offset as the master sees it, for merging shards from several hosts.

At test start the master pings every worker a few times (Locust custom messages); a worker
answers with its own run-clock reading. For the round trip with the smallest RTT the offset is
``master_clock_at_midpoint - worker_clock``, accurate to within half that RTT (the NTP rule).
The master writes ``clock-offsets.json`` beside the shards::

    {"host-b-4242": {"offset_s": 81234.5, "rtt_s": 0.0004, "client_id": "host-b_..."}}

Add ``offset_s`` to a worker's times to put them on the master's clock
(``harness.locust.merge.merge_shards(..., offsets=...)`` does it). On one machine the run clock
(CLOCK_MONOTONIC) is shared by every process and the offsets are ~0.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from harness import clock
from harness.locust.roles import is_master, is_worker
from harness.locust.shard import history_dir, worker_tag

log = logging.getLogger(__name__)

PING, PONG = "harness_clock_ping", "harness_clock_pong"
PINGS = 5
OFFSETS_FILE = "clock-offsets.json"


class ClockOffsets:
    """The master's view: the best (lowest-RTT) sample per worker, saved as JSON."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.best: dict[str, dict[str, Any]] = {}

    def add(self, sent: float, received: float, data: dict[str, Any], client_id: str) -> None:
        rtt = received - sent
        offset = sent + rtt / 2 - float(data["t_worker"])
        worker = str(data["worker"])
        known = self.best.get(worker)
        if known is None or rtt < known["rtt_s"]:
            self.best[worker] = {"offset_s": offset, "rtt_s": rtt, "client_id": client_id}
            self.save()

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.best, indent=2, sort_keys=True) + "\n")


def install(events: Any) -> None:
    """Register the ping/pong messages and the test-start pings on Locust's ``events``."""

    @events.init.add_listener
    def _register(environment: Any, **_kwargs: Any) -> None:
        if is_master(environment):
            offsets = ClockOffsets(history_dir() / OFFSETS_FILE)
            environment.harness_clock_offsets = offsets

            def on_pong(environment: Any, msg: Any, **_kw: Any) -> None:
                offsets.add(float(msg.data["t_master"]), clock.now(), msg.data, msg.node_id)

            environment.runner.register_message(PONG, on_pong)
        elif is_worker(environment):

            def on_ping(environment: Any, msg: Any, **_kw: Any) -> None:
                reply = {"t_master": msg.data["t_master"], "t_worker": clock.now()}
                reply["worker"] = worker_tag()
                environment.runner.send_message(PONG, reply)

            environment.runner.register_message(PING, on_ping)

    @events.test_start.add_listener
    def _ping(environment: Any, **_kwargs: Any) -> None:
        if is_master(environment):
            import gevent

            gevent.spawn(_ping_workers, environment)


def _ping_workers(environment: Any) -> None:
    import gevent

    runner = environment.runner
    for _ in range(PINGS):
        for client in list(runner.clients.all):
            runner.send_message(PING, {"t_master": clock.now()}, client_id=client.id)
        gevent.sleep(0.2)


__all__ = ["OFFSETS_FILE", "ClockOffsets", "install"]
