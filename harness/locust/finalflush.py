"""Workers give every send its outcome, and report it, before the master writes its statistics.

When ``--run-time`` ends a distributed run, Locust's master sends ``quit`` to its workers and
waits half a second for their final statistics. A worker then stops its users and closes its
client, and under saturation that flush of the sends still in flight takes seconds: their
``request`` events came too late for the master's CSV, which then counted fewer requests than
the acknowledged sends in the worker's shard (412,409 against 444,665 in one run).

So when the master starts stopping (``test_stopping``), it first asks every worker to stop
(``harness_final_flush``). A worker stops its users, which closes the clients and the shards
(``users._close_shared``), sends its statistics at once, and answers ``harness_final_flushed``.
The master waits for every answer, up to ``deadline_s``, then lets Locust stop as usual.
"""

from __future__ import annotations

import logging
from typing import Any

from harness import clock
from harness.locust.roles import is_master, is_worker

log = logging.getLogger(__name__)

FLUSH, FLUSHED = "harness_final_flush", "harness_final_flushed"


def _wait_for_workers(environment: Any, deadline_s: float) -> None:
    import gevent
    from locust.runners import STATE_MISSING

    runner = environment.runner
    # A worker gone missing (no heartbeat) cannot answer; Locust deals with it as it does.
    workers = {client.id for client in runner.clients.all if client.state != STATE_MISSING}
    answered: set[str] = environment.harness_flushed
    for worker in workers:
        runner.send_message(FLUSH, None, client_id=worker)
    deadline = clock.now() + deadline_s
    while not workers <= answered and clock.now() < deadline:
        gevent.sleep(0.05)
    missing = workers - answered
    if missing:
        log.warning(
            "harness: %d worker(s) did not finish their sends within %.0fs; Locust's counts "
            "may miss their last outcomes (the history has them)", len(missing), deadline_s,
        )  # fmt: skip


def install(events: Any, deadline_s: float) -> None:
    """Register the flush messages and the master's wait on Locust's ``events``."""

    @events.init.add_listener
    def _register(environment: Any, **_kwargs: Any) -> None:
        if is_master(environment):
            environment.harness_flushed = set()

            def on_flushed(environment: Any, msg: Any, **_kw: Any) -> None:
                environment.harness_flushed.add(msg.node_id)

            environment.runner.register_message(FLUSHED, on_flushed)
        elif is_worker(environment):

            def on_flush(environment: Any, msg: Any, **_kw: Any) -> None:
                runner = environment.runner
                runner.stop()  # test_stop: the clients flush and the shards close
                send_stats = getattr(runner, "_send_stats", None)
                if send_stats is not None:
                    send_stats()  # the stats of the flushed sends go ahead of the answer
                else:  # a Locust without it: the next periodic report carries them
                    import gevent
                    from locust.runners import WORKER_REPORT_INTERVAL

                    gevent.sleep(WORKER_REPORT_INTERVAL + 0.5)
                runner.send_message(FLUSHED, None)

            # Concurrent: the flush can take seconds, and heartbeats must still be answered.
            environment.runner.register_message(FLUSH, on_flush, concurrent=True)

    @events.test_stopping.add_listener
    def _flush_workers(environment: Any, **_kwargs: Any) -> None:
        if is_master(environment):
            environment.harness_flushed.clear()
            _wait_for_workers(environment, deadline_s)


__all__ = ["FLUSH", "FLUSHED", "install"]
