"""Every fault on an HTTP downstream answers as specified: a real aiohttp client calls the
harness's recording server through the downstream's own (real) Toxiproxy proxy, while faults
are applied and healed through the fault layer as a run's timeline does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from harness.drivers import ListRecorder
from harness.faults import FaultContext, Healer, Journal, apply, heal, replay, undo_on_stack
from harness.observe import ObserveContext
from harness.observe.kinds.downstream import Downstream
from harness.scenario import Fault
from harness.scenario.observe import DownstreamSource, IdField
from harness.stack import Stack
from harness.stack.toxiproxy import ToxiproxyClient

pytestmark = pytest.mark.integration


@dataclass
class Rig:
    source: Downstream
    faults: FaultContext
    recorder: ListRecorder
    session: aiohttp.ClientSession
    url: str

    async def call(self, event_id: str, timeout: float = 3.0) -> tuple[Any, dict[str, str], float]:
        """(status or the client error's name, headers, seconds taken)."""
        started = time.monotonic()
        try:
            async with self.session.post(
                self.url,
                json={"event_id": event_id},
                headers={"Idempotency-Key": event_id},
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as response:
                await response.read()
                outcome: Any = response.status
                headers = dict(response.headers)
        except (aiohttp.ClientError, TimeoutError) as error:
            outcome, headers = type(error).__name__, {}
        return outcome, headers, time.monotonic() - started

    async def during(self, fault: dict[str, Any], fault_id: str) -> Any:
        """Apply ``fault`` (a timeline entry) now; the caller heals the returned window."""
        entry = Fault.model_validate({"at": 0, "duration": 60, **fault})
        return await apply(entry, fault_id, self.faults)

    def rows(self, op: str) -> list[dict[str, Any]]:
        return [dict(r) for r in self.recorder.rows if r["op"] == op]


def observe_context(
    stack: Stack, toxiproxy: ToxiproxyClient, healer: Healer, tmp: Path, recorder: ListRecorder
) -> ObserveContext:
    return ObserveContext(
        stack=stack,
        run_id=f"it{int(time.time() * 1000) % 10**8}",
        recorder=recorder,
        work_dir=tmp,
        state_dir=tmp / "state",
        target_kind="kafka",
        destination="unused",
        dead_letters="unused.dlq",
        healer=healer,
        toxiproxy=toxiproxy,
    )


SETTINGS = DownstreamSource(env="PAYMENTS_URL", id=IdField(jsonpath="$.event_id"))


@pytest.fixture
async def rig(stack: Stack, toxiproxy: ToxiproxyClient, tmp_path: Path) -> AsyncIterator[Rig]:
    recorder = ListRecorder()
    healer = Healer(undo_on_stack(stack, toxiproxy), Journal(tmp_path / "heal.json"))
    ctx = observe_context(stack, toxiproxy, healer, tmp_path, recorder)
    source = Downstream("payments", SETTINGS, ctx)
    await source.start()
    faults = FaultContext(stack, toxiproxy, healer, downstreams={"payments": source})
    try:
        async with aiohttp.ClientSession() as session:
            yield Rig(source, faults, recorder, session, source.env()["PAYMENTS_URL"])
    finally:
        await healer.heal_all()
        await source.stop()


async def test_the_service_is_handed_the_proxy_and_the_proxy_goes_with_the_run(
    rig: Rig, toxiproxy: ToxiproxyClient
):
    proxy = toxiproxy.get_proxy(rig.source.proxy or "")
    assert urlsplit(rig.url).port == int(proxy.listen.rsplit(":", 1)[1])
    assert (
        proxy.upstream == f"127.0.0.1:{rig.source.server.port}" and proxy.listen != proxy.upstream
    )
    assert (await rig.call("e1"))[0] == 200
    stats = rig.source.stats()
    assert (stats["observed"], stats["requests"]) == (1, 1)
    name = rig.source.proxy
    await rig.source.stop()
    await rig.source.stop()
    assert name not in toxiproxy.proxies()


@pytest.mark.parametrize(
    ("fault", "status", "retry_after", "applied"),
    [
        ({"respond": 500}, 500, None, False),
        ({"respond": 503}, 503, None, False),
        ({"respond": 429, "retry_after": "2s"}, 429, "2", False),
        ({"respond": 503, "retry_after": "500ms"}, 503, "1", False),
        ({"respond": 201}, 201, None, True),
    ],
)
async def test_a_status_fault_answers_it_until_healed(
    rig: Rig, fault: dict[str, Any], status: int, retry_after: str | None, applied: bool
):
    window = await rig.during({"downstream": {"name": "payments", **fault}}, "f0")
    answered, headers, _ = await rig.call("e1")
    assert (answered, headers.get("Retry-After")) == (status, retry_after)
    await heal(window, rig.faults)
    assert (await rig.call("e2"))[0] == 200
    assert [r["id"] for r in rig.rows("effect")] == (["e1", "e2"] if applied else ["e2"])
    first = rig.rows("request")[0]
    assert (first["http_status"], first["attempt"]) == (status, 1)
    assert first["retry_after"] == (float(retry_after) if retry_after else None)
    assert window.kind == f"downstream.{status}" and window.targets == ["payments"]


async def test_a_slow_downstream_answers_after_its_delay(rig: Rig):
    window = await rig.during({"downstream": {"delay": "400ms"}}, "f0")
    status, _, took = await rig.call("e1")
    assert status == 200 and took >= 0.4
    await heal(window, rig.faults)
    status, _, took = await rig.call("e2")
    assert status == 200 and took < 0.4


async def test_a_hung_downstream_holds_the_call_until_the_client_gives_up(rig: Rig):
    window = await rig.during({"downstream": {"respond": 503, "hang": True}}, "f0")
    status, _, took = await rig.call("e1", timeout=0.5)
    assert status == "TimeoutError" and took >= 0.5
    await wait_for(lambda: len(rig.rows("request")) == 1, "the hung call to be recorded")
    assert rig.rows("request")[0]["http_status"] is None and rig.rows("effect") == []
    await heal(window, rig.faults)
    assert (await rig.call("e1"))[0] == 200


async def test_a_held_call_is_let_go_when_the_fault_heals(rig: Rig):
    window = await rig.during({"downstream": {"hang": True}}, "f0")  # applied, then held
    call = asyncio.create_task(rig.call("e1", timeout=30.0))
    await wait_for(lambda: rig.source.server.in_flight() == 1, "the call to be held")
    await heal(window, rig.faults)
    status, _, took = await call
    assert status == "ServerDisconnectedError" and took < 10
    assert [r["id"] for r in rig.rows("effect")] == ["e1"]


async def test_a_dropped_answer_applies_the_call_and_its_keyed_retry_is_replayed(rig: Rig):
    window = await rig.during({"downstream": {"respond": 200, "drop_response": True}}, "f0")
    assert (await rig.call("e1"))[0] == "ServerDisconnectedError"
    await heal(window, rig.faults)
    status, headers, _ = await rig.call("e1")  # the retry, with the same Idempotency-Key
    assert status == 200 and headers.get("Idempotent-Replayed") == "true"
    assert [r["reason"] for r in rig.rows("request")] == ["applied", "replayed"]
    assert [r["attempt"] for r in rig.rows("effect")] == [1]


async def test_a_latency_toxic_on_the_downstream_slows_its_answers(rig: Rig):
    toxic = {"type": "latency", "target": "payments", "attributes": {"latency": 400}}
    window = await rig.during({"toxic": toxic}, "f0")
    status, _, took = await rig.call("e1")
    assert status == 200 and took >= 0.4
    await heal(window, rig.faults)
    assert (await rig.call("e2"))[2] < 0.4


async def test_a_timeout_toxic_on_the_answers_loses_them_after_the_call_is_applied(rig: Rig):
    toxic = {"type": "timeout", "target": "payments", "attributes": {"timeout": 0}}
    window = await rig.during({"toxic": toxic}, "f0")  # stream: downstream (the answers)
    status, _, _ = await rig.call("e1", timeout=0.8)
    assert status == "TimeoutError"
    await wait_for(lambda: len(rig.rows("effect")) == 1, "the call to be applied")
    await heal(window, rig.faults)
    assert (await rig.call("e1"))[0] == 200  # replayed: applied once
    assert len(rig.rows("effect")) == 1


async def test_the_downstream_proxy_down_refuses_calls_until_it_is_up(rig: Rig):
    window = await rig.during({"proxy_down": {"target": "payments"}}, "f0")
    status, _, _ = await rig.call("e1", timeout=2.0)
    assert status in ("ClientConnectorError", "ServerDisconnectedError", "ClientOSError")
    assert rig.rows("request") == []
    await heal(window, rig.faults)
    assert (await rig.call("e1"))[0] == 200


async def test_a_run_killed_before_its_end_leaves_the_proxy_to_harness_heal(
    stack: Stack, toxiproxy: ToxiproxyClient, tmp_path: Path
):
    journal = Journal(tmp_path / "heal.json")
    healer = Healer(undo_on_stack(stack, toxiproxy), journal)
    ctx = observe_context(stack, toxiproxy, healer, tmp_path, ListRecorder())
    source = Downstream("payments", SETTINGS, ctx)
    await source.start()
    name = source.proxy
    await source.server.stop()  # the process dies: only the journal knows about the proxy
    assert name in toxiproxy.proxies()
    healed, failures = await replay(journal, undo_on_stack(stack, toxiproxy))
    assert failures == [] and healed == [f"delete the Toxiproxy proxy {name}"]
    assert name not in toxiproxy.proxies() and not journal.path.exists()


async def wait_for(condition: Any, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)
