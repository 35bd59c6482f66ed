"""The user's webhook endpoint as the system under test (provider mode): a command the harness
starts, waits for until it listens, crashes, restarts and stops.

Its environment: the harness's own (so the variables named by ``target.webhook.secret_env``
reach it), the scenario's ``env``, the observation sources' variables (where to write its
effects), and ``HARNESS_MODE``, ``HARNESS_WEBHOOK_LISTEN`` (``host:port`` of the endpoint's
URL), ``HARNESS_WEBHOOK_PATH``, ``HARNESS_WEBHOOK_SCHEME``, ``HARNESS_WEBHOOK_SECRET_ENV``
(comma-separated variable names, current first) and ``HARNESS_STATE_DIR``. It reports nothing:
what it did is observed (``observe:``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

from harness.drivers.webhook import wait_listening
from harness.errors import HarnessError
from harness.faults import Journal
from harness.scenario import Scenario, SutMode
from harness.sut.contract import resolve_command
from harness.sut.process import SutProcess

READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


class WebhookEndpoint:
    """The started endpoint; the run's ``Consumer`` in provider mode."""

    def __init__(
        self,
        scenario: Scenario,
        run_id: str,
        work_dir: Path,
        late_env: Callable[[], Mapping[str, str]] | None = None,
    ) -> None:
        webhook = scenario.target.webhook
        sut = scenario.system_under_test
        if webhook is None or sut.command is None:
            raise HarnessError("WebhookEndpoint needs a webhook target and a command")
        self.host, self.port = webhook.host, webhook.port
        self.state_dir = work_dir / "sut-state" / run_id
        self._late_env = late_env
        self._env = {
            **os.environ,
            **sut.env,
            "HARNESS_MODE": str(sut.mode or SutMode.CORRECT),
            "HARNESS_WEBHOOK_LISTEN": f"{self.host}:{self.port}",
            "HARNESS_WEBHOOK_PATH": webhook.path,
            "HARNESS_WEBHOOK_SCHEME": webhook.scheme,
            "HARNESS_WEBHOOK_SECRET_ENV": ",".join(webhook.secret_env),
            "HARNESS_STATE_DIR": str(self.state_dir),
        }
        self.process = SutProcess(
            resolve_command(list(sut.command)),
            self._env,
            work_dir / "sut.log",
            journal=Journal.for_run(f"{run_id}-sut"),
        )

    async def start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if self._late_env is not None and self.process.incarnation == 0:
            self._env.update(self._late_env())
        await self.process.spawn()
        if not await wait_listening(self.host, self.port, READY_TIMEOUT_S):
            await self.process.close()
            raise HarnessError(
                f"The webhook endpoint {self.process.describe()} did not listen on "
                f"{self.host}:{self.port} within {READY_TIMEOUT_S:g}s. Its last log lines:\n"
                f"{self.process.log_tail()}"
            )

    async def crash(self) -> None:
        await self.process.kill()

    async def restart(self) -> None:
        await self.start()

    def raise_if_failed(self) -> None:
        if self.process.failure is not None:
            raise self.process.failure

    async def close(self) -> None:
        try:
            await self.process.terminate(STOP_TIMEOUT_S)
        finally:
            await self.process.close()

    def stats(self) -> dict[str, int]:
        return {}


class ExternalEndpoint:
    """An endpoint the harness does not start (already running): nothing to do but wait for it."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port

    async def start(self) -> None:
        if not await wait_listening(self.host, self.port, READY_TIMEOUT_S):
            raise HarnessError(
                f"Nothing listens on {self.host}:{self.port}, the webhook target's URL; start "
                "the endpoint first, or give system_under_test.command to have the harness "
                "start it."
            )

    async def close(self) -> None:
        return None

    def stats(self) -> dict[str, int]:
        return {}


__all__ = ["ExternalEndpoint", "WebhookEndpoint"]
