"""The env file's ``moto:`` and ``pubsub:`` sections: their models and errors (one
``file:line: field: reason`` each), the allow-list over their addresses, the stack they present
(moto endpoint, emulator host, project, nodes faults can name), the local stack writing them
into run/env.yaml, and a scenario's own project winning over the env file's."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ConfigError, UnsafeTargetError
from harness.run.clients import pubsub_target
from harness.scenario import parse_scenario
from harness.stack import Stack, load_env, parse_env
from harness.stack.localenv import env_of_state, write_local_env
from harness.stack.state import NodeState, StackState

ENV = """\
version: 1
toxiproxy: {api: "http://127.0.0.1:8474"}
moto:
  endpoint: "http://127.0.0.1:4566"
  node:
    proxy: moto
    listen: "127.0.0.1:4566"
    address: "127.0.0.1:14566"
    control: {kill: docker kill moto, restart: docker restart moto}
pubsub:
  emulator_host: "127.0.0.1:8085"
  project: team-project
  node:
    proxy: pubsub
    listen: "127.0.0.1:8085"
    address: "127.0.0.1:18085"
"""


def test_the_emulator_sections_alone_are_an_env_file() -> None:
    env = parse_env(ENV, "env.yaml")
    assert env.kafka is None and env.nats is None
    assert env.moto is not None and env.moto.endpoint == "http://127.0.0.1:4566"
    assert env.pubsub is not None and env.pubsub.emulator_host == "127.0.0.1:8085"
    assert env.pubsub.project == "team-project"
    assert set(env.nodes()) == {"moto", "pubsub"}


def test_a_pubsub_section_without_a_project_takes_the_default() -> None:
    text = 'version: 1\ntoxiproxy: {api: "http://127.0.0.1:8474"}\npubsub: {emulator_host: "127.0.0.1:8085"}\n'
    env = parse_env(text, "env.yaml")
    assert env.pubsub is not None and env.pubsub.project == "harness-project"
    assert env.pubsub.node is None and env.nodes() == {}


def test_the_env_stack_presents_the_emulators() -> None:
    stack = Stack.from_env(parse_env(ENV, "env.yaml"), "env.yaml")
    assert stack.moto_endpoint == "http://127.0.0.1:4566"
    assert stack.pubsub_emulator_host == "127.0.0.1:8085"
    assert stack.state.pubsub_project == "team-project"
    assert stack.node("pubsub").state.probe == "pubsub"
    assert stack.node("moto").state.probe == "moto"


@pytest.mark.parametrize(
    ("old", "new", "field", "why"),
    [
        ('endpoint: "http://127.0.0.1:4566"', 'endpoint: "127.0.0.1:4566"', "moto.endpoint",
         "http:// or https://"),
        ('endpoint: "http://127.0.0.1:4566"', 'endpoint: "http://127.0.0.1:4566/x"',
         "moto.endpoint", "no path"),
        ('endpoint: "http://127.0.0.1:4566"', 'endpoint: "http://127.0.0.1:0"', "moto.endpoint",
         "port from 1 to 65535"),
        ('emulator_host: "127.0.0.1:8085"', 'emulator_host: "127.0.0.1"',
         "pubsub.emulator_host", "host:port"),
        ("project: team-project", "project: Team_Project", "pubsub.project",
         "Pub/Sub project id"),
        ("project: team-project", "project: team-project\n  region: eu", "pubsub.region",
         "unknown field (known: emulator_host, project, node)"),
        ('    address: "127.0.0.1:18085"\n', '    address: "127.0.0.1:18085"\n    control: {restart: x}\n    colour: red\n',
         "pubsub.node.colour", "unknown field"),
    ],
)  # fmt: skip
def test_each_emulator_problem_is_one_error_naming_file_line_and_field(
    old: str, new: str, field: str, why: str
) -> None:
    assert old in ENV
    with pytest.raises(ConfigError) as caught:
        parse_env(ENV.replace(old, new), "env.yaml")
    first = str(caught.value).splitlines()[0]
    assert first.startswith("env.yaml:") and f": {field}: " in first, first
    line = first.split(":")[1]
    assert line.isdigit(), first
    assert why in str(caught.value)


def test_no_broker_and_no_emulator_is_one_error() -> None:
    with pytest.raises(ConfigError, match="a broker or an emulator"):
        parse_env('version: 1\ntoxiproxy: {api: "http://127.0.0.1:8474"}\n', "env.yaml")


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ('endpoint: "http://127.0.0.1:4566"', 'endpoint: "http://10.1.2.3:4566"', "moto.endpoint"),
        ('emulator_host: "127.0.0.1:8085"', 'emulator_host: "10.1.2.3:8085"',
         "pubsub.emulator_host"),
        ('address: "127.0.0.1:18085"', 'address: "10.1.2.4:18085"', "pubsub.node.address"),
    ],
)  # fmt: skip
def test_every_emulator_address_is_checked_against_the_allow_list(
    monkeypatch: pytest.MonkeyPatch, old: str, new: str, field: str
) -> None:
    monkeypatch.delenv("HARNESS_ALLOW_HOSTS", raising=False)
    env = parse_env(ENV.replace(old, new), "staging.yaml")
    with pytest.raises(UnsafeTargetError) as caught:
        Stack.from_env(env, "staging.yaml")
    assert str(caught.value).startswith(f"staging.yaml: {field}: Refusing to target")


def _emulator_state(tmp_path: Path, backend: str = "local") -> StackState:
    state = StackState(
        backend=backend,  # type: ignore[arg-type]
        kafka_brokers=0, rabbitmq=False, kafka_bootstrap=[], toxiproxy_url="http://127.0.0.1:9474",
        moto_endpoint="http://127.0.0.1:4566", pubsub=True, pubsub_emulator_host="127.0.0.1:8085",
    )  # fmt: skip
    for name, proxy, own in (("moto", 4566, 14566), ("pubsub", 8085, 18085)):
        state.nodes[name] = NodeState(
            name=name, kind=name, argv=["x"], cwd=str(tmp_path), data_dir=str(tmp_path),
            log_file=str(tmp_path / "n.log"), proxy=name, probe=name,
            ports={"proxy": proxy, "client": own}, probe_port=own, service=name,
        )  # type: ignore[arg-type]  # fmt: skip
    return state


def test_the_local_stack_writes_its_emulators_into_its_env_file(tmp_path: Path) -> None:
    path = write_local_env(_emulator_state(tmp_path), tmp_path / "env.yaml")
    env = load_env(path)
    assert env.moto is not None and env.moto.endpoint == "http://127.0.0.1:4566"
    assert env.pubsub is not None and env.pubsub.emulator_host == "127.0.0.1:8085"
    assert env.pubsub.project == "harness-project"
    node = env.pubsub.node
    assert node is not None and node.listen == "127.0.0.1:8085"
    assert node.address == "127.0.0.1:18085"
    assert node.control is not None and node.control.restart is not None
    assert node.control.restart[-2:] == ["restart-node", "pubsub"]
    stack = Stack.from_env(env, path)
    assert stack.moto_endpoint == "http://127.0.0.1:4566"


def test_a_compose_emulator_is_controlled_with_docker(tmp_path: Path) -> None:
    env = env_of_state(_emulator_state(tmp_path, backend="compose"))
    node = env.moto.node  # type: ignore[union-attr]
    assert node is not None and node.address == node.listen == "127.0.0.1:4566"
    assert node.control is not None and node.control.pause == ["docker", "pause", "harness-moto"]


SCENARIO = """\
name: ok
target:
  pubsub: {block}
storm:
  duration: 5s
  rate: {{shape: constant, per_second: 10}}
"""


@pytest.mark.parametrize(
    ("block", "project"),
    [("{topic: orders}", "team-project"), ("{topic: orders, project: own-project}", "own-project")],
)
def test_the_env_files_project_is_used_unless_the_scenario_names_one(
    block: str, project: str
) -> None:
    stack = Stack.from_env(parse_env(ENV, "env.yaml"), "env.yaml")
    scenario = parse_scenario(SCENARIO.format(block=block), "x.yaml")
    target = pubsub_target(scenario, stack, "1-abc")
    assert target.project == project and target.emulator == "127.0.0.1:8085"
