"""The NATS cluster of the local stack: real nats-server processes behind Toxiproxy.

Every client port and every cluster route crosses a proxy: a toxic on ``nats-2`` slows exactly
the clients of nats-2, and disabling one node's route proxies partitions it (the majority keeps
storing JetStream R3 messages, the minority refuses, and it catches up after the heal). Node
handles kill, pause, resume and restart a node, which rejoins with its data.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator

import nats
import nats.errors as nerr
import pytest

from harness.drivers.nats_target import NatsTarget, connect, ensure_stream
from harness.stack import Stack, process
from harness.stack import nats as nats_stack_module
from harness.stack.toxiproxy import latency

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _heal_after_each_test(nats_stack: Stack) -> Iterator[None]:
    yield
    nats_stack.reload()
    nats_stack.heal()
    _wait_full_mesh(nats_stack)


def _routes(stack: Stack, n: int) -> list[str]:
    return nats_stack_module.routes(stack.state.nodes[f"nats-{n}"].ports["monitor"])


def _wait_full_mesh(stack: Stack, timeout: float = 20.0) -> None:
    names = {f"nats-{n}" for n in (1, 2, 3)}
    process.wait_until(
        lambda: all(set(_routes(stack, n)) == names - {f"nats-{n}"} for n in (1, 2, 3)),
        timeout,
        "the NATS full mesh",
    )


def _target(stack: Stack, node: int, stream: str | None = None) -> NatsTarget:
    servers = stack.nats_servers
    return NatsTarget(subject=f"it.{stream or 'core'}", servers=(servers[node - 1],),
                      stream=stream, replicas=3)  # fmt: skip


def test_three_nodes_serve_through_their_proxies_with_routes_through_proxies(nats_stack: Stack):
    assert [h.name for h in nats_stack.nats_nodes()] == ["nats-1", "nats-2", "nats-3"]
    for handle in nats_stack.nats_nodes():
        assert handle.is_healthy()
        assert nats_stack_module.info_ready(handle.ports["proxy"])
    _wait_full_mesh(nats_stack)
    with nats_stack.toxiproxy() as toxiproxy:
        names = set(toxiproxy.proxies())
    assert {"nats-1", "nats-route-1-2", "nats-route-3-2"} <= names


def test_a_toxic_on_one_node_slows_only_its_clients(nats_stack: Stack):
    async def round_trip(node: int) -> float:
        nc = await connect(_target(nats_stack, node), f"it-rtt-{node}")
        try:
            started = time.monotonic()
            await nc.flush(timeout=5)
            return time.monotonic() - started
        finally:
            await nc.close()

    with nats_stack.toxiproxy() as toxiproxy:
        toxiproxy.add_toxic("nats-2", latency(300))
        slow, fast = asyncio.run(round_trip(2)), asyncio.run(round_trip(1))
    assert slow >= 0.3 > fast


def test_a_route_cut_partitions_the_cluster_and_the_minority_catches_up(nats_stack: Stack):
    stream = f"CUT{int(time.time())}"

    async def scenario() -> tuple[int, type[BaseException] | None, int]:
        majority = await connect(_target(nats_stack, 1, stream), "it-majority")
        minority = await connect(_target(nats_stack, 3, stream), "it-minority")
        js_major, js_minor = majority.jetstream(timeout=2), minority.jetstream(timeout=2)
        try:
            await ensure_stream(js_major, _target(nats_stack, 1, stream))
            await js_major.publish(f"it.{stream}", b"before")
            with nats_stack.toxiproxy() as toxiproxy:
                for proxy in nats_stack_module.route_proxies_of(3, 3):
                    toxiproxy.disable(proxy)
                process.wait_until(lambda: not _routes(nats_stack, 3), 10, "nats-3 cut off")
                stored = None
                deadline = time.monotonic() + 20
                while stored is None and time.monotonic() < deadline:
                    try:  # the majority elects a leader if nats-3 led the stream
                        stored = (await js_major.publish(f"it.{stream}", b"during")).seq
                    except (
                        nerr.TimeoutError,
                        nerr.NoRespondersError,
                        nats.js.errors.APIError,
                        nats.js.errors.NoStreamResponseError,  # no stream leader elected yet
                    ):
                        await asyncio.sleep(0.5)
                refused: type[BaseException] | None = None
                try:
                    await js_minor.publish(f"it.{stream}", b"minority", timeout=2)
                except Exception as error:  # the minority has no quorum
                    refused = type(error)
                for proxy in nats_stack_module.route_proxies_of(3, 3):
                    toxiproxy.enable(proxy)
            _wait_full_mesh(nats_stack)
            caught_up = 0
            deadline = time.monotonic() + 20
            while caught_up < 2 and time.monotonic() < deadline:
                try:
                    info = await js_minor.stream_info(stream)
                    caught_up = info.state.messages
                except Exception:
                    pass
                await asyncio.sleep(0.5)
            return int(stored or 0), refused, caught_up
        finally:
            # Clean-up must not mask the outcome: right after a heal the stream's leader may
            # still be elected, and a loaded machine answers JetStream's API slowly.
            with contextlib.suppress(Exception):
                await majority.jetstream(timeout=15).delete_stream(stream)
            await majority.close()
            await minority.close()

    stored, refused, caught_up = asyncio.run(scenario())
    assert stored == 2
    assert refused is not None
    assert caught_up == 2


def test_node_handles_kill_pause_and_restart_a_node_that_rejoins(nats_stack: Stack):
    node = nats_stack.node("nats-2")
    node.pause()
    assert node.is_paused() and not node.is_healthy(timeout=0.5)
    node.resume()
    process.wait_until(node.is_healthy, 10, "nats-2 to answer again")
    node.kill()
    assert not node.is_alive()
    process.wait_until(lambda: "nats-2" not in _routes(nats_stack, 1), 10, "nats-1 to notice")
    node.restart()
    assert node.is_healthy()
    assert node.data_dir.exists()
    _wait_full_mesh(nats_stack)
