"""The env file's ``nats:`` section: its model and errors, the allow-list over its URLs, the
stack it presents (servers, node count, route proxies), the local stack's NATS nodes written
into run/env.yaml, and a fuzz of the section's parser."""

from __future__ import annotations

import io
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from harness.errors import ConfigError, UnsafeTargetError
from harness.faults.kinds.route_cut import KIND as ROUTE_CUT
from harness.stack import Stack, load_env, parse_env
from harness.stack.commanded import CommandedNode
from harness.stack.envfile import NatsNode
from harness.stack.localenv import env_of_state, write_local_env
from harness.stack.state import NodeState, StackState

SECRET = "n4ts-s3cret"
ENV = f"""\
version: 1
toxiproxy: {{api: "http://127.0.0.1:8474"}}
nats:
  servers: ["nats://app:{SECRET}@127.0.0.1:4221", "nats://127.0.0.1:4222", "nats://127.0.0.1:4223"]
  nodes:
    nats-1:
      proxy: nats-1
      listen: "127.0.0.1:4221"
      address: "127.0.0.1:14221"
      routes: [nats-route-1-2, nats-route-2-1]
      control:
        kill: docker kill nats-1
        restart: docker restart nats-1
    nats-2:
      proxy: nats-2
"""


def test_a_nats_section_alone_is_an_env_file() -> None:
    env = parse_env(ENV, "env.yaml")
    assert env.nats is not None and env.kafka is None
    assert len(env.nats.servers) == 3
    one = env.nats.nodes["nats-1"]
    assert isinstance(one, NatsNode) and one.routes == ["nats-route-1-2", "nats-route-2-1"]
    assert one.control is not None and one.control.kill == ["docker", "kill", "nats-1"]
    assert env.nats.nodes["nats-2"].routes == []
    assert SECRET not in repr(env)


def test_the_env_stack_presents_the_nats_servers_nodes_and_routes() -> None:
    stack = Stack.from_env(parse_env(ENV, "env.yaml"), "env.yaml")
    assert stack.nats_servers[1:] == ["nats://127.0.0.1:4222", "nats://127.0.0.1:4223"]
    assert stack.nats_node_count == 3  # three servers, two of them listed as nodes
    assert sorted(h.name for h in stack.nats_nodes()) == ["nats-1", "nats-2"]
    node = stack.node("nats-1")
    assert isinstance(node, CommandedNode) and node.kind == "nats"
    assert node.can("kill") and not node.can("pause")
    assert node.client_address == "127.0.0.1:4221"
    assert stack.nats_route_proxies("nats-1") == ["nats-route-1-2", "nats-route-2-1"]
    assert stack.nats_route_proxies("nats-2") == []


def test_route_cut_is_refused_before_the_run_on_a_node_without_routes() -> None:
    stack = Stack.from_env(parse_env(ENV, "env.yaml"), "env.yaml")
    problem = ROUTE_CUT.environment_problem(SimpleNamespace(target="nats-2"), stack)
    assert problem is not None and "nats.nodes.nats-2.routes" in problem
    assert ROUTE_CUT.environment_problem(SimpleNamespace(target="nats-1"), stack) is None


@pytest.mark.parametrize(
    ("old", "new", "field", "why"),
    [
        ("    nats-2:", "    nats-b:", "nats.nodes.nats-b", "must be named nats-<n>"),
        ('"nats://127.0.0.1:4222"', '"http://127.0.0.1:4222"', "nats.servers[1]", "NATS URL"),
        ('"nats://127.0.0.1:4222"', '"nats://127.0.0.1"', "nats.servers[1]", "host:port"),
        ("[nats-route-1-2, ", "['a b', ", "nats.nodes.nats-1.routes[0]", "Toxiproxy proxy"),
        ("      proxy: nats-2", "      proxy: nats-2\n      route: [x]",
         "nats.nodes.nats-2.route", "routes"),
    ],
)  # fmt: skip
def test_each_nats_problem_is_one_error_naming_the_field(
    old: str, new: str, field: str, why: str
) -> None:
    assert old in ENV
    with pytest.raises(ConfigError) as caught:
        parse_env(ENV.replace(old, new), "env.yaml")
    message = str(caught.value)
    assert f": {field}: " in message.splitlines()[0], message
    assert why in message and SECRET not in message


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("@127.0.0.1:4221", "@10.1.2.3:4221", "nats.servers[0]"),
        ('address: "127.0.0.1:14221"', 'address: "10.1.2.4:14221"', "nats.nodes.nats-1.address"),
    ],
)
def test_every_nats_address_is_checked_against_the_allow_list(
    monkeypatch: pytest.MonkeyPatch, old: str, new: str, field: str
) -> None:
    monkeypatch.delenv("HARNESS_ALLOW_HOSTS", raising=False)
    env = parse_env(ENV.replace(old, new), "staging.yaml")
    with pytest.raises(UnsafeTargetError) as caught:
        Stack.from_env(env, "staging.yaml")
    message = str(caught.value)
    assert message.startswith(f"staging.yaml: {field}: Refusing to target"), message
    assert SECRET not in message


def _nats_state(tmp_path: Path, nodes: int, backend: str = "local") -> StackState:
    state = StackState(
        backend=backend,  # type: ignore[arg-type]
        kafka_brokers=0, rabbitmq=False, kafka_bootstrap=[], toxiproxy_url="http://127.0.0.1:9474",
        nats_nodes=nodes, nats_servers=[f"nats://127.0.0.1:{4220 + n}" for n in range(1, nodes + 1)],
    )  # fmt: skip
    for n in range(1, nodes + 1):
        state.nodes[f"nats-{n}"] = NodeState(
            name=f"nats-{n}", kind="nats", argv=["x"], cwd=str(tmp_path), data_dir=str(tmp_path),
            log_file=str(tmp_path / "n.log"), proxy=f"nats-{n}", probe="nats",
            ports={"proxy": 4220 + n, "client": 14220 + n, "monitor": 14230 + n},
            probe_port=14230 + n, service=f"nats-{n}",
        )  # fmt: skip
    return state


def test_the_local_stacks_nats_nodes_are_in_its_env_file(tmp_path: Path) -> None:
    path = write_local_env(_nats_state(tmp_path, 3), tmp_path / "env.yaml")
    env = load_env(path)
    assert env.nats is not None and env.kafka is None
    assert env.nats.servers == [f"nats://127.0.0.1:{4220 + n}" for n in (1, 2, 3)]
    two = env.nats.nodes["nats-2"]
    # probed at the server's client port (it answers INFO there), not its HTTP monitor port
    assert two.listen == "127.0.0.1:4222" and two.address == "127.0.0.1:14222"
    assert sorted(two.routes) == ["nats-route-1-2", "nats-route-2-1", "nats-route-2-3",
                                  "nats-route-3-2"]  # fmt: skip
    assert two.control is not None and two.control.kill is not None
    assert two.control.kill[-2:] == ["kill-node", "nats-2"]
    assert Stack.from_env(env, path).nats_route_proxies("nats-2") == two.routes


def test_one_local_nats_node_has_no_routes_and_writes_none(tmp_path: Path) -> None:
    path = write_local_env(_nats_state(tmp_path, 1), tmp_path / "env.yaml")
    assert "routes" not in path.read_text()
    assert load_env(path).nats.nodes["nats-1"].routes == []  # type: ignore[union-attr]


def test_a_compose_nats_node_is_probed_through_its_proxy(tmp_path: Path) -> None:
    env = env_of_state(_nats_state(tmp_path, 1, backend="compose"))
    node = env.nats.nodes["nats-1"]  # type: ignore[union-attr]
    assert node.address == node.listen == "127.0.0.1:4221"
    assert node.control is not None and node.control.resume == ["docker", "unpause",
                                                                "harness-nats-1"]  # fmt: skip


FAST = settings(max_examples=50, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.text(max_size=30),
              st.sampled_from(["nats://", "nats://:0", "tls://h:1", "nats-0", "nats-1", "@:"])),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner,
                                                                max_size=3),
    max_leaves=20,
)  # fmt: skip
PATHS = [("nats",), ("nats", "servers"), ("nats", "nodes"), ("nats", "nodes", "nats-1"),
         ("nats", "nodes", "nats-1", "routes"), ("nats", "nodes", "nats-1", "address"),
         ("nats", "nodes", "nats-1", "control")]  # fmt: skip


@FAST
@given(st.sampled_from(PATHS), st.one_of(st.just("DROP"), values))
def test_mutations_of_the_nats_section_give_an_env_file_or_one_error(
    path: tuple[str, ...], value: Any
) -> None:
    document: Any = YAML(typ="safe", pure=True).load(ENV)
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    if value == "DROP":
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    out = io.StringIO()
    YAML(typ="safe", pure=True).dump(document, out)
    started = time.monotonic()
    try:
        env = parse_env(out.getvalue(), "fuzz.yaml")
        assert SECRET not in repr(env)
    except ConfigError as error:
        assert "fuzz.yaml" in str(error).splitlines()[0]
        assert SECRET not in str(error)
    assert time.monotonic() - started < 2.0
