"""An external command as the system under test, with the built-in consumers' interface.

``ExternalSut`` creates the report and dead-letter topics, starts the observer on the report
topic, then starts the command with the wiring in its environment and waits until it reports
``ready`` (it has partitions). ``crash()`` SIGKILLs its process group; ``restart()`` starts it
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
from harness.drivers import Recorder, create_topic, delete_topic
from harness.errors import ConfigError, HarnessError
from harness.faults import Journal
from harness.safety import check_address
from harness.scenario import Scenario, SutMode
from harness.scenario.models import ReadyLog
from harness.stack import Stack
from harness.sut.contract import Wiring, build_env, resolve_command
from harness.sut.observer import ReportObserver
from harness.sut.process import SutProcess
from harness.sut.readiness import Probe, kafka_subscribed, log_matches, ready_when


@dataclass(frozen=True)
class SutSpec:
    """How to start and wire one external system under test."""

    command: list[str]
    wiring: Wiring
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
        for address in self.wiring.bootstrap.split(","):
            check_address(address.strip())


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
        self.observer = ReportObserver(spec.wiring.bootstrap, spec.wiring.report_topic, recorder)
        self._crashes = 0
        self._closed = False

    async def start(self) -> None:
        """Create the topics, start observing, start the command and wait until it consumes."""
        w = self.spec.wiring
        w.state_dir.mkdir(parents=True, exist_ok=True)
        if self.spec.late_env is not None:
            self.process.env.update(self.spec.late_env())
        for topic in (w.report_topic, w.dlq_topic):
            await create_topic(
                w.bootstrap,
                topic,
                partitions=1,
                replication_factor=self.spec.replication_factor,
                exist_ok=True,
            )
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
            return f"it must report 'ready' on {self.spec.wiring.report_topic!r} once it has partitions"
        if rule == "subscribed":
            return f"its group {self.spec.wiring.group!r} never became Stable with a member"
        return f"no line of its log matched {rule}"

    def raise_if_failed(self) -> None:
        """Raise the ``HarnessError`` of a command that exited on its own, if it did."""
        if self.process.failure is not None:
            raise self.process.failure

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
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    delete_topic(self.spec.wiring.bootstrap, self.spec.wiring.report_topic), 30.0
                )
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
    destination_topic: str,
    run_id: str,
    recorder: Recorder,
    work_dir: Path,
    late_env: Callable[[], Mapping[str, str]] | None = None,
) -> ExternalSut:
    """The scenario's external system under test for one run on ``stack``.

    It consumes ``destination_topic`` in group ``<consumer.group>-<run_id>``, dead-letters to
    ``<destination_topic>.dlq``, reports to ``<destination_topic>.report`` (deleted by
    ``close()``), keeps its state in ``work_dir/sut-state/<run_id>`` and logs to
    ``work_dir/sut.log``. ``late_env()`` (the observation sources' variables: where to write)
    is added to its environment when it first starts.
    """
    sut = scenario.system_under_test
    if sut.command is None:
        raise ConfigError("build_external_sut needs system_under_test.command; none is set.")
    if scenario.target.kafka is None:
        raise ConfigError(
            f"Scenario {scenario.name!r}: an external system_under_test is supported on Kafka "
            "targets only; use the built-in consumer (no command) for RabbitMQ."
        )
    if scenario.consumer.count != 1:
        raise ConfigError(
            f"Scenario {scenario.name!r}: consumer.count={scenario.consumer.count}, but the "
            "harness starts one process of an external system_under_test; set count to 1."
        )
    brokers = len(stack.kafka_nodes())
    wiring = Wiring(
        bootstrap=stack.kafka_bootstrap_servers,
        topic=destination_topic,
        group=f"{scenario.consumer.group}-{run_id}",
        mode=str(sut.mode or SutMode.CORRECT),
        report_topic=f"{destination_topic}.report",
        dlq_topic=f"{destination_topic}.dlq",
        state_dir=work_dir / "sut-state" / run_id,  # a rerun into the same folder starts clean
        consumer="sut",
        run_id=run_id,
    )
    log_path = work_dir / "sut.log"
    rule = ready_when(scenario)
    probe = None
    if rule == "subscribed":
        probe = kafka_subscribed(wiring.bootstrap, wiring.group)
    elif isinstance(rule, ReadyLog):
        probe = log_matches(log_path, rule)
    return ExternalSut(
        SutSpec(
            command=list(sut.command),
            wiring=wiring,
            env=dict(sut.env),
            log_path=log_path,
            replication_factor=max(1, min(3, brokers)),
            journal=Journal.for_run(f"{run_id}-sut"),
            ready=probe,
            ready_rule=rule if isinstance(rule, str) else f"log {rule.log!r}",
            late_env=late_env,
        ),
        recorder,
    )


__all__ = ["ExternalSut", "SutSpec", "build_external_sut"]
