"""One scenario run: storm, faults and consumers against the stack, recorded into a history.

The phases, each bounded in time:

1. **prepare**: validate the targets (loopback only), create the run's topic or queue, start
   the consumer (the built-in system under test) and the producer;
2. **storm**: the pacer releases every event at its intended time while the fault timeline
   applies and heals faults on its own schedule;
3. **heal**: every fault still active is healed (also on exception, Ctrl-C and SIGTERM, since
   healing sits in ``finally`` and a cancellation during it waits until it is done);
4. **drain**: wait until every acknowledged event has been received (or dead-lettered), or
   the drain timeout passes;
5. **close**: the drivers give every in-flight send a final outcome and the history is
   finalised. Checks and reports then read only the history. The close stages (heal, clients,
   Toxiproxy client, history) nest in ``finally`` so each runs whatever the one before raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from harness import clock
from harness.errors import HarnessError, StackError
from harness.faults import FaultContext, Healer, Journal, Timeline, undo_on_stack
from harness.history import HistoryWriter
from harness.load import Pacer, Storm, build_storm
from harness.run.clients import Clients, Repair, build_clients, match_sqs_storage
from harness.run.readings import RunReadings
from harness.run.schema_plan import record_schema_plan
from harness.run.shards import plan_for, run_sharded_storm, storm_processes
from harness.safety import check_address, check_target
from harness.scenario import Scenario
from harness.scenario.faults import duplicate_windows
from harness.scenario.models import Engine, KafkaClient
from harness.stack import Stack

STORM_LEAD_S = 0.5
"""Seconds between the end of preparation and the first intended send."""
DRAIN_QUIET_S = 3.0
"""The drain ends early once nothing more arrived for this long after every ack was seen."""
DRAIN_STALLED_S = 15.0
"""... or once nothing at all arrived for this long (acknowledged events were lost), or for
the target's redelivery horizon and ``DRAIN_QUIET_S`` when that is longer
(``Clients.redelivery_s``: an SQS message whose receive answer a fault lost stays invisible
for the visibility timeout, then comes back)."""


@dataclass
class RunStatus:
    """What a progress display shows; updated as the run goes."""

    phase: str = "prepare"
    sent: int = 0
    planned: int = 0
    started_at: float = 0.0
    storm_seconds: float = 0.0
    faults: list[str] = field(default_factory=list)
    stats: Callable[[], dict[str, int]] = field(default=lambda: {})
    terminated: bool = False
    """A SIGTERM asked the run to stop (so a cancellation is an interrupt, not a bug)."""


@dataclass
class RunRecord:
    """What a run leaves for the checks and reports, besides its history file."""

    scenario: Scenario
    seed: int
    run_id: str
    history: Path
    storm_start: float
    storm_end: float
    wall_offset: float
    events_planned: int
    slip_p99_ms: float
    errors: list[str]
    destination: str
    processes: int = 1
    shard_slips: list[dict[str, float]] = field(default_factory=list)
    """Schedule slip of each storm shard (``SlipStats`` fields), when the storm was sharded."""


def resolve_seed(scenario: Scenario, seed: int | None) -> int:
    """The seed to use: the command line's, else the scenario's, else a fresh one."""
    if seed is not None:
        return seed
    if scenario.seed is not None:
        return scenario.seed
    return secrets.randbelow(2**31)


def check_stack_is_safe(stack: Stack) -> None:
    """Refuse a stack whose addresses leave loopback unless they are allow-listed."""
    for address in stack.kafka_bootstrap:
        check_address(address)
    if stack.state.rabbitmq_url:
        check_target(urlsplit(stack.state.rabbitmq_url).hostname or "")
    for url in stack.state.nats_servers:
        check_target(urlsplit(url).hostname or "")
    if stack.state.moto_endpoint:
        check_target(urlsplit(stack.state.moto_endpoint).hostname or "")
    if stack.state.pubsub_emulator_host:
        check_address(stack.state.pubsub_emulator_host)
    if stack.state.sqs_endpoint:
        check_target(urlsplit(stack.state.sqs_endpoint).hostname or "")
    check_target(urlsplit(stack.toxiproxy_url).hostname or "")


async def run_scenario(
    scenario: Scenario,
    out_dir: Path,
    seed: int,
    *,
    stack: Stack | None = None,
    status: RunStatus | None = None,
    processes: int | None = None,
) -> RunRecord:
    """Run ``scenario`` once and return its record; the history is at ``out_dir``.

    ``processes``: storm shards (``harness.run.shards``; default the scenario's, else the
    core count, for Kafka storms of the harness engine)."""
    stack = stack or Stack.load()
    check_stack_is_safe(stack)
    await asyncio.to_thread(match_sqs_storage, stack, scenario)
    status = status or RunStatus()
    out_dir.mkdir(parents=True, exist_ok=True)
    run_id = f"{seed}-{secrets.token_hex(3)}"
    windows = duplicate_windows(scenario.faults, scenario.storm.duration)
    storm = build_storm(scenario.storm, seed, run_prefix=f"e{seed}", duplicate_windows=windows)
    if scenario.storm.schema_ is not None:
        for verdict in record_schema_plan(out_dir, storm, scenario.storm.schema_):
            print(f"[schema] {verdict}", file=sys.stderr, flush=True)
    status.planned = len(storm)
    status.storm_seconds = scenario.storm.duration
    history_path = out_dir / "history.parquet"
    errors: list[str] = []
    shards = storm_processes(scenario, processes)
    sharded = shards > 1 or (
        scenario.target.kafka is not None and scenario.producer.client is KafkaClient.CONFLUENT
    )
    shard_slips: list[dict[str, float]] = []
    with HistoryWriter(history_path) as writer:
        toxiproxy = stack.toxiproxy()
        healer = Healer(undo_on_stack(stack, toxiproxy), Journal.for_run(run_id))
        # Observation sources outlive the storm's heal (which heals every undo of its healer)
        # until the drain: their undos go to a healer and journal of their own, and each source
        # heals its own when it stops (``harness heal`` replays what a killed run left).
        keeper = Healer(undo_on_stack(stack, toxiproxy), Journal.for_run(f"{run_id}.observe"))
        clients = build_clients(scenario, stack, run_id, writer, out_dir, Repair(keeper, toxiproxy))
        status.stats = clients.consumer.stats
        readings = RunReadings(clients)
        ctx = FaultContext(
            stack,
            toxiproxy,
            healer,
            topic=clients.destination if clients.kind == "kafka" else None,
            rng=random.Random(seed),
            consumers=clients.consumer,  # type: ignore[arg-type]
            readings=readings,
            downstreams={
                **clients.observers.of_kind("downstream", "webhook_receiver"),
                **clients.fronts(),
            },  # type: ignore[arg-type]
            webhook=clients.producer if clients.kind == "webhook" else None,  # type: ignore[arg-type]
        )
        timeline = Timeline(scenario.faults, scenario.storm.duration, ctx, writer)
        storm_start = storm_end = clock.now()
        slip_p99 = float("nan")
        locust = scenario.load.engine is Engine.LOCUST
        try:
            await _prepare(clients, scenario, status, start_producer=not (locust or sharded))
            status.phase = "storm"
            if locust:
                storm_start, acked = await _locust_storm(
                    scenario, stack, out_dir, seed, clients, writer, timeline, status
                )
            elif sharded:
                plan = plan_for(
                    scenario,
                    out_dir / "shards",
                    seed,
                    shards,
                    clients.bootstrap,
                    clients.destination,
                )
                starts: list[float] = []

                def begin(start: float) -> None:
                    starts.append(start)
                    status.started_at = start
                    timeline.start(start)

                result = await run_sharded_storm(plan, writer, begin)
                storm_start = starts[0]
                acked, status.sent = result.acked, result.sent
                slip_p99 = result.merged.p99_ms
                shard_slips = [vars(s) for s in result.slips]
            else:
                storm_start = clock.now() + STORM_LEAD_S
                status.started_at = storm_start
                timeline.start(storm_start)
                pacer = Pacer(storm.t_offset, storm_start)
                await _storm(pacer, storm, clients, status, timeline)
                slip_p99 = pacer.stats().p99_ms
            storm_end = clock.now()
            status.phase = "heal"
            await heal_to_the_end(timeline, errors)
            status.faults = []
            status.phase = "drain"
            if not (locust or sharded):
                await clients.producer.flush(scenario.drain.timeout)
                acked = _acked(clients)
            await _drain(clients, acked, scenario.drain.timeout)
            _raise_if_unsafe(clients)
        finally:
            status.phase = "close"
            try:
                await _close_all(timeline, clients, toxiproxy.close, errors, scenario.drain.timeout)
            finally:
                with contextlib.suppress(Exception):
                    await readings.close()
        status.phase = "done"
    return RunRecord(
        scenario=scenario,
        seed=seed,
        run_id=run_id,
        history=history_path,
        storm_start=storm_start,
        storm_end=storm_end,
        wall_offset=clock.wall_offset(),
        events_planned=len(storm),
        slip_p99_ms=slip_p99,
        errors=errors,
        destination=clients.destination,
        processes=shards if sharded else 1,
        shard_slips=shard_slips,
    )


async def _prepare(
    clients: Clients, scenario: Scenario, status: RunStatus, *, start_producer: bool = True
) -> None:
    try:
        await clients.prepare(scenario)
        await clients.observers.start()  # before the service: it is handed their addresses
        await clients.consumer.start()
        wait_assigned = getattr(clients.consumer, "wait_assigned", None)
        if wait_assigned is not None and not await wait_assigned(60.0):
            raise StackError(
                f"The consumer got no partition of {clients.destination!r} within 60s; "
                "is the Kafka cluster healthy? (`harness stack status`)"
            )
        if start_producer:
            await clients.producer.start()
        _raise_if_unsafe(clients)
    except HarnessError:
        raise
    except Exception as error:
        raise StackError(
            f"Could not prepare the {clients.kind} clients for {clients.destination!r}: "
            f"{error!r}. Is the stack up (`harness stack status`)?"
        ) from error


async def _storm(
    pacer: Pacer, storm: Storm, clients: Clients, status: RunStatus, timeline: Timeline
) -> None:
    send = clients.producer.send
    event = storm.event
    intended = pacer.intended
    now = clock.now
    # An external system under test that dies on its own ends the run at once, not at drain.
    consumer_failed = getattr(clients.consumer, "raise_if_failed", lambda: None)
    next_check = now()
    async for batch in pacer.batches():
        t = now()
        for row in range(batch.start, batch.stop):
            send(event(row, float(intended[row]), t))
        status.sent = batch.stop
        status.faults = timeline.describe_active()
        if t >= next_check:
            consumer_failed()
            _raise_if_unsafe(clients)
            next_check = t + 1.0


async def _locust_storm(
    scenario: Scenario,
    stack: Stack,
    out_dir: Path,
    seed: int,
    clients: Clients,
    writer: HistoryWriter,
    timeline: Timeline,
    status: RunStatus,
) -> tuple[float, int]:
    """Send the storm with Locust master and workers; return its start and the acked count."""
    from harness.locust.runner import STARTUP_LEAD_S, run_locust_storm

    storm_start = clock.now() + STARTUP_LEAD_S
    status.started_at = storm_start
    timeline.start(storm_start)
    result = await run_locust_storm(
        scenario,
        stack,
        out_dir / "locust",
        seed,
        storm_start,
        destination=clients.destination,
        recorder=writer,
    )
    status.sent = result.requests
    return storm_start, result.successes


async def _drain(clients: Clients, acked: int, timeout: float) -> None:
    """Wait until the consumer has received as many events as were acknowledged."""
    deadline = clock.now() + timeout
    stalled = max(DRAIN_STALLED_S, clients.redelivery_s + DRAIN_QUIET_S)
    last_count, last_change = -1, clock.now()
    while clock.now() < deadline:
        stats = clients.consumer.stats()
        # A black box reports nothing: what the observation sources saw is its progress. A
        # consumer that counts redeliveries in "received" reports the distinct events apart,
        # so duplicates never make the missing look arrived.
        received = stats.get("distinct", stats.get("received", 0))
        seen = max(received, clients.observers.observed())
        if seen != last_count:
            last_count, last_change = seen, clock.now()
        quiet = clock.now() - last_change
        if quiet >= (DRAIN_QUIET_S if seen >= acked else stalled):
            return
        await asyncio.sleep(0.2)


def _acked(clients: Clients) -> int:
    counts = getattr(clients.producer, "counts", {})
    return int(counts.get("ok", 0))


async def heal_to_the_end(timeline: Timeline, errors: list[str]) -> None:
    """``timeline.close()`` (heal every fault), finished even if the caller is cancelled; the
    problems it reports are added to ``errors`` (before the cancellation is raised).

    A cancellation (a second SIGTERM, Ctrl-C) while healing is held back until healing is
    done, then raised: stopping half way would leave faults on the stack, and ``asyncio.run``
    cancels every task left when the run returns, a shielded one included.
    """
    healing = asyncio.ensure_future(timeline.close())
    cancelled = False
    while not healing.done():
        try:
            await asyncio.shield(healing)
        except asyncio.CancelledError:
            cancelled = True
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()  # held back: counted again when raised below
    errors += healing.result()
    if cancelled:
        raise asyncio.CancelledError


async def _close_all(
    timeline: Timeline,
    clients: Clients,
    close_toxiproxy: Callable[[], None],
    errors: list[str],
    timeout: float,
) -> None:
    """Heal, then close the clients, then the Toxiproxy client: each stage runs whatever the
    one before it raised (the history writer is closed by the caller's ``with``)."""
    try:
        await heal_to_the_end(timeline, errors)
    finally:
        try:
            await _close(clients, timeout, errors)
        finally:
            close_toxiproxy()


async def _close(clients: Clients, timeout: float, errors: list[str]) -> None:
    """Close producer, consumer (the service stops), then take what the observation sources
    have yet to read, stop them and drop the run's topic; each step runs even if the one
    before failed or was cancelled."""
    try:
        with contextlib.suppress(Exception):
            await clients.producer.close(max(5.0, timeout))
    finally:
        try:
            with contextlib.suppress(Exception):
                await clients.consumer.close()
        finally:
            try:
                errors += await clients.observers.drain(max(5.0, timeout))
            finally:
                try:
                    await clients.observers.stop()
                finally:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(clients.discard(), 30.0)


def _raise_if_unsafe(clients: Clients) -> None:
    """Raise the ``UnsafeTargetError`` a client recorded (a broker or peer off loopback)."""
    for client in (clients.producer, clients.consumer):
        check = getattr(client, "raise_if_unsafe", None)
        if check is not None:
            check()


__all__ = [
    "RunRecord",
    "RunStatus",
    "check_stack_is_safe",
    "heal_to_the_end",
    "resolve_seed",
    "run_scenario",
]
