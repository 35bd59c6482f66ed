"""An external command as the system under test, with the built-in consumers' interface.

``ExternalSut`` prepares the report channel (Kafka: the report and dead-letter topics;
RabbitMQ: the input queue with its dead-letter exchange and queue, and the report queue),
starts the observer on it, then starts the command with the wiring in its environment and
waits until it reports ``ready`` (it has partitions, or consumes its queue). ``crash()`` SIGKILLs its process group; ``restart()`` starts it
again with the same environment and state directory. ``stats()`` counts what it reported; it
raises the process's ``failure`` once the command has exited on its own, so the run stops.

    sut = build_external_sut(scenario, stack, topic, run_id, history, out_dir)
    await sut.start()
    ...
    await sut.close()
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from harness import clock
from harness.drivers import AmqpTarget, Recorder
from harness.errors import ConfigError, HarnessError
from harness.faults import Journal
from harness.scenario import Consumer, Scenario, SutMode
from harness.scenario.models import ReadyLog
from harness.stack import Stack
from harness.sut.channels import report_channel
from harness.sut.contract import AmqpWiring, SutWiring, Wiring, build_env, resolve_command
from harness.sut.process import SutProcess
from harness.sut.readiness import Probe, kafka_subscribed, log_matches, ready_when


@dataclass(frozen=True)
class SutSpec:
    """How to start and wire one external system under test."""

    command: list[str]
    wiring: SutWiring
    env: dict[str, str] = field(default_factory=dict)
    log_path: Path = Path("sut.log")
    replication_factor: int = 1
    cwd: Path | None = None
    ready_timeout_s: float = 60.0
    stop_timeout_s: float = 20.0
    drain_timeout_s: float = 20.0
    journal: Journal | None = None
    """Where the running process is journaled for ``harness heal`` (None: not journaled)."""
    ready: Probe | None = None
    """How to tell the service is ready from outside; None: it reports ``ready``."""
    ready_rule: str = "report"
    late_env: Callable[[], Mapping[str, str]] | None = None
    """Variables known only once the run's observation sources have started (their addresses),
    read just before the first start."""

    def __post_init__(self) -> None:
        self.wiring.check_addresses()


class ExternalSut:
    """The scenario's command, started, observed, crashed and restarted by the harness."""

    def __init__(self, spec: SutSpec, recorder: Recorder) -> None:
        self.spec = spec
        self.process = SutProcess(
            resolve_command(spec.command),
            build_env(spec.wiring, spec.env),
            spec.log_path,
            spec.cwd,
            spec.journal,
        )
        self.channel = report_channel(spec.wiring, recorder, spec.replication_factor)
        self.observer = self.channel.observer
        self._crashes = 0
        self._closed = False

    async def start(self) -> None:
        """Prepare the channel, start observing, start the command and wait until it consumes."""
        w = self.spec.wiring
        w.state_dir.mkdir(parents=True, exist_ok=True)
        if self.spec.late_env is not None:
            self.process.env.update(self.spec.late_env())
        await self.channel.prepare()
        await self.observer.start()
        await self.process.spawn()
        if not await self.wait_assigned(self.spec.ready_timeout_s):
            raise self.process.failure or HarnessError(
                f"The system under test {self.process.describe()} was not ready within "
                f"{self.spec.ready_timeout_s:.0f}s ({self._ready_wanted()}; "
                "docs/system-under-test.md, 'Readiness'). Its last log lines:\n"
                f"{self.process.log_tail()}"
            )

    async def wait_assigned(self, timeout_s: float = 30.0) -> bool:
        """Wait until the current incarnation has reported ``ready``; False after ``timeout_s``.

        Raises the process's failure if it exits meanwhile.
        """
        deadline = clock.now() + timeout_s
        while clock.now() < deadline:
            self.raise_if_failed()
            if await self._is_ready():
                return True
            await asyncio.sleep(0.05 if self.spec.ready is None else 0.25)
        return False

    async def _is_ready(self) -> bool:
        if self.spec.ready is None:
            return bool(self.observer.counts["ready"] >= self.process.incarnation)
        try:
            return await self.spec.ready(self.process.incarnation)
        except Exception:  # the group may not exist yet, a broker may be starting: ask again
            return False

    def _ready_wanted(self) -> str:
        rule = self.spec.ready_rule
        if rule == "report":
            return f"it must report 'ready' on its {self.spec.wiring.describe()} once it consumes"
        if rule == "subscribed":
            group = getattr(self.spec.wiring, "group", "?")
            return f"its group {group!r} never became Stable with a member"
        return f"no line of its log matched {rule}"

    def raise_if_failed(self) -> None:
        """Raise the ``HarnessError`` of a command that exited on its own, if it did."""
        if self.process.failure is not None:
            raise self.process.failure

    def raise_if_unsafe(self) -> None:
        """Raise the ``UnsafeTargetError`` that stopped the observer, if any."""
        check = getattr(self.observer, "raise_if_unsafe", None)
        if check is not None:
            check()

    async def crash(self) -> None:
        """SIGKILL the command's process group: nothing after its last commit is committed."""
        self.raise_if_failed()
        self._crashes += 1
        await self.process.kill()

    async def restart(self) -> None:
        """Start the command again (same environment, same state directory)."""
        if self._closed or self.process.running:
            return
        await self.process.spawn()

    async def close(self) -> None:
        """Stop the command (SIGTERM, then SIGKILL), take its last reports, stop observing.

        Idempotent. Raises the process's failure, if any, after cleaning up.
        """
        if self._closed:
            return
        self._closed = True
        try:
            await self.process.terminate(self.spec.stop_timeout_s)
            with contextlib.suppress(Exception):
                await self.observer.catch_up(self.spec.drain_timeout_s)
        finally:
            await self.observer.stop()
            await self.process.close()
            await self.channel.discard()
        self.raise_if_failed()

    def stats(self) -> dict[str, int]:
        """What the command reported (received, effects, dead_lettered, ...), crashes and
        restarts. Raises the process's failure once it has exited on its own."""
        self.raise_if_failed()
        return {
            **self.observer.counts,
            "crashes": self._crashes,
            "incarnations": self.process.incarnation,
        }

    async def __aenter__(self) -> ExternalSut:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def build_external_sut(
    scenario: Scenario,
    stack: Stack,
    destination: str,
    run_id: str,
    recorder: Recorder,
    work_dir: Path,
    late_env: Callable[[], Mapping[str, str]] | None = None,
) -> ExternalSut:
    """The scenario's external system under test for one run on ``stack``.

    Kafka: it consumes the topic ``destination`` in group ``<consumer.group>-<run_id>``,
    dead-letters to ``<destination>.dlq`` and reports to ``<destination>.report``. RabbitMQ: it
    consumes the queue ``destination`` (dead-lettered through ``<destination>.dlx`` to
    ``<destination>.dlq``) and reports to the queue ``<destination>.report``. The report topic
    or queue is deleted by ``close()``; the state is kept in ``work_dir/sut-state/<run_id>``
    and the log in ``work_dir/sut.log``.
    ``late_env()`` (the observation sources' variables: where to write) is added to its
    environment when it first starts.
    """
    sut = scenario.system_under_test
    if sut.command is None:
        raise ConfigError("build_external_sut needs system_under_test.command; none is set.")
    if scenario.consumer.count != 1:
        raise ConfigError(
            f"Scenario {scenario.name!r}: consumer.count={scenario.consumer.count}, but the "
            "harness starts one process of an external system_under_test; set count to 1."
        )
    common = {
        "mode": str(sut.mode or SutMode.CORRECT),
        "state_dir": work_dir / "sut-state" / run_id,  # a rerun into the same folder starts clean
        "consumer": "sut",
        "run_id": run_id,
        "consumer_env": consumer_variables(scenario.consumer),
    }
    wiring: SutWiring
    replication_factor = 1
    rabbitmq = scenario.target.rabbitmq
    if rabbitmq is not None:
        queue = AmqpTarget.from_url(stack.rabbitmq_url, destination, durable=rabbitmq.durable)
        wiring = AmqpWiring(
            amqp_url=stack.rabbitmq_url,
            queue=destination,
            dlx=queue.dlx,
            dlq_queue=queue.dlq,
            report_queue=f"{destination}.report",
            manual_ack=scenario.consumer.manual_ack,
            durable=rabbitmq.durable,
            **common,  # type: ignore[arg-type]
        )
    else:
        replication_factor = max(1, min(3, stack.kafka_brokers))
        wiring = Wiring(
            bootstrap=stack.kafka_bootstrap_servers,
            topic=destination,
            group=f"{scenario.consumer.group}-{run_id}",
            report_topic=f"{destination}.report",
            dlq_topic=f"{destination}.dlq",
            **common,  # type: ignore[arg-type]
        )
    log_path = work_dir / "sut.log"
    rule = ready_when(scenario)
    probe = None
    if rule == "subscribed":
        if rabbitmq is not None:
            raise ConfigError(
                f"Scenario {scenario.name!r}: ready: subscribed is not supported for RabbitMQ "
                "services yet; use ready: {log: REGEX} or the report contract (ready: report)."
            )
        probe = kafka_subscribed(wiring.bootstrap, wiring.group)  # type: ignore[union-attr]
    elif isinstance(rule, ReadyLog):
        probe = log_matches(log_path, rule)
    return ExternalSut(
        SutSpec(
            command=list(sut.command),
            wiring=wiring,
            env=dict(sut.env),
            log_path=log_path,
            replication_factor=replication_factor,
            journal=Journal.for_run(f"{run_id}-sut"),
            ready=probe,
            ready_rule=rule if isinstance(rule, str) else f"log {rule.log!r}",
            late_env=late_env,
        ),
        recorder,
    )


def consumer_variables(consumer: Consumer) -> dict[str, str]:
    """The consumer settings a command receives: ``HARNESS_COMMIT`` and ``HARNESS_PREFETCH``
    (``manual_ack`` is RabbitMQ's wiring; ``count`` must be 1 and ``group`` is in the Kafka
    wiring)."""
    return {"HARNESS_COMMIT": str(consumer.commit), "HARNESS_PREFETCH": str(consumer.prefetch)}


__all__ = ["ExternalSut", "SutSpec", "build_external_sut", "consumer_variables"]
