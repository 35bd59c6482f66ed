"""The env file: its model, one clear error per problem (file, line, field), redaction, and the
shipped docker/env.yaml matching the compose stack and local stack's own env files."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ConfigError, UnsafeTargetError
from harness.stack import EnvFile, Stack, compose, layout, load_env, parse_env
from harness.stack.envaddress import check_env_addresses
from harness.stack.envfile import MAX_ENV_BYTES, env_path
from harness.stack.localenv import env_of_state, write_local_env
from harness.stack.state import NodeState, StackState

ROOT = Path(__file__).resolve().parents[2]

ENV = """\
version: 1
toxiproxy: {api: "http://127.0.0.1:8474"}
kafka:
  bootstrap: ["127.0.0.1:9091", "127.0.0.1:9092"]
  nodes:
    kafka-1:
      proxy: kafka-1
      listen: "127.0.0.1:9091"
      address: "127.0.0.1:19091"
      control:
        kill: docker kill kafka-1
        pause: [docker, pause, kafka-1]
        resume: "docker unpause 'kafka 1'"
        restart: docker restart kafka-1
        timeout: 30s
    kafka-2:
      proxy: kafka-2
rabbitmq:
  url: "amqp://user:s3cr3t@127.0.0.1:5672/%2F"
postgres:
  dsn: "postgresql://app:hunter2@127.0.0.1:5432/app"
"""


def test_a_full_env_file_parses_into_its_model() -> None:
    env = parse_env(ENV, "env.yaml")
    assert env.kafka is not None and env.toxiproxy.api == "http://127.0.0.1:8474"
    control = env.kafka.nodes["kafka-1"].control
    assert control is not None
    assert control.kill == ["docker", "kill", "kafka-1"]
    assert control.pause == ["docker", "pause", "kafka-1"]
    assert control.resume == ["docker", "unpause", "kafka 1"]  # shlex, no shell
    assert control.timeout == 30.0 and control.ready_timeout == 120.0
    assert control.available() == ["kill", "pause", "resume", "restart"]
    assert env.kafka.nodes["kafka-2"].control is None
    assert set(env.nodes()) == {"kafka-1", "kafka-2"}


@pytest.mark.parametrize(
    ("text", "line", "field", "why"),
    [
        (ENV.replace("version: 1", "version: 2"), 1, "version", "Input should be 1"),
        (ENV.replace("    kafka-2:", "    broker-2:"), 16, "kafka.nodes.broker-2", "kafka-<node.id>"),
        (ENV.replace("timeout: 30s", "timeout: soon"), 15, "kafka.nodes.kafka-1.control.timeout",
         "invalid duration"),
        (ENV.replace("kill: docker kill kafka-1", "kill: \"docker 'kill\""), 11,
         "kafka.nodes.kafka-1.control.kill", "close its quotes"),
        (ENV.replace("kill: docker kill kafka-1", "kill: ''"), 11,
         "kafka.nodes.kafka-1.control.kill", "empty command"),
        (ENV.replace('address: "127.0.0.1:19091"', 'address: "127.0.0.1"'), 9,
         "kafka.nodes.kafka-1.address", "host:port"),
        (ENV.replace('      address: "127.0.0.1:19091"\n', ""), 6, "kafka.nodes.kafka-1",
         "needs its address"),
        (ENV.replace("      proxy: kafka-1\n", "      proxy: kafka-1\n      proxi: x\n"), 8,
         "kafka.nodes.kafka-1.proxi", "unknown field (known: proxy, listen, address, control)"),
        (ENV.replace("timeout: 30s", "timeout: 30s\n        stop: x"), 16,
         "kafka.nodes.kafka-1.control.stop", "(known: kill, pause, resume, restart, timeout, "
         "ready_timeout)"),
        ("version: 1\ntoxiproxy: {api: 'http://127.0.0.1:1'}\nkafk: {}\n", 3, "kafk",
         "(known: version, kafka, rabbitmq, postgres, "),
        (ENV.replace('toxiproxy: {api: "http://127.0.0.1:8474"}', "toxiproxy: {api: 8474}"), 2,
         "toxiproxy.api", "string"),
    ],
)  # fmt: skip
def test_each_problem_is_one_error_naming_file_line_and_field(
    text: str, line: int, field: str, why: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_env(text, "env.yaml")
    message = str(caught.value)
    assert message.startswith(f"env.yaml:{line}: {field}: "), message
    assert why in message
    assert "\n" not in message


def test_missing_sections_are_named() -> None:
    with pytest.raises(ConfigError, match="toxiproxy: required field is missing"):
        parse_env("version: 1\nkafka: {bootstrap: ['127.0.0.1:9091']}\n", "e.yaml")
    with pytest.raises(ConfigError, match="name a broker"):
        parse_env("version: 1\ntoxiproxy: {api: 'http://127.0.0.1:8474'}\n", "e.yaml")
    with pytest.raises(ConfigError, match="e.yaml:1: an env file is a YAML mapping"):
        parse_env("- a\n- b\n", "e.yaml")


def test_size_is_checked_before_parsing(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (MAX_ENV_BYTES + 10))
    with pytest.raises(ConfigError, match="larger than 65,536 bytes"):
        load_env(big)
    with pytest.raises(ConfigError, match="cannot read the env file"):
        load_env(tmp_path / "absent.yaml")


def test_passwords_never_appear_in_reprs_or_errors() -> None:
    env = parse_env(ENV, "env.yaml")
    shown = repr(env) + str(env) + repr(Stack.from_env(env, "env.yaml"))
    assert "s3cr3t" not in shown and "hunter2" not in shown
    bad = ENV.replace("amqp://user:s3cr3t@", "http://user:s3cr3t@")
    with pytest.raises(ConfigError) as caught:
        parse_env(bad, "env.yaml")
    assert "s3cr3t" not in str(caught.value) and "rabbitmq.url" in str(caught.value)


@pytest.mark.parametrize(
    ("old", "new", "field", "host"),
    [
        ('"127.0.0.1:9092"]', '"10.0.0.7:9092"]', "kafka.bootstrap[1]", "10.0.0.7"),
        ('address: "127.0.0.1:19091"', 'address: "kafka-1.internal:19091"',
         "kafka.nodes.kafka-1.address", "kafka-1.internal"),
        ('listen: "127.0.0.1:9091"', 'listen: "[2001:db8::1]:9091"',
         "kafka.nodes.kafka-1.listen", "2001:db8::1"),
        ("s3cr3t@127.0.0.1", "s3cr3t@rabbit.example.com", "rabbitmq.url", "rabbit.example.com"),
        ("hunter2@127.0.0.1", "hunter2@db.example.com", "postgres.dsn", "db.example.com"),
        ("http://127.0.0.1:8474", "http://toxi.example.com:8474", "toxiproxy.api",
         "toxi.example.com"),
    ],
)  # fmt: skip
def test_every_address_is_checked_against_the_allow_list(
    old: str, new: str, field: str, host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HARNESS_ALLOW_HOSTS", raising=False)
    env = parse_env(ENV.replace(old, new), "staging.yaml")
    with pytest.raises(UnsafeTargetError) as caught:
        Stack.from_env(env, "staging.yaml")
    message = str(caught.value)
    assert message.startswith(f"staging.yaml: {field}: Refusing to target"), message
    assert "s3cr3t" not in message and "hunter2" not in message
    monkeypatch.setenv("HARNESS_ALLOW_HOSTS", host)
    check_env_addresses(env, "staging.yaml")  # allow-listed: accepted


def test_env_stack_presents_the_env_files_addresses_and_nodes() -> None:
    stack = Stack.from_env(parse_env(ENV, "env.yaml"), "env.yaml")
    assert stack.state.backend == "env"
    assert stack.kafka_bootstrap == ["127.0.0.1:9091", "127.0.0.1:9092"]
    assert stack.rabbitmq_url.startswith("amqp://") and stack.has_postgres
    assert stack.kafka_brokers == 2 and sorted(stack.nodes) == ["kafka-1", "kafka-2"]
    one = stack.node("kafka-1")
    assert one.proxy == "kafka-1" and one.client_address == "127.0.0.1:9091"
    assert one.can("kill") and not stack.node("kafka-2").can("kill")
    stack.save()  # an env file is never written over: nothing happens
    with pytest.raises(Exception, match="No node named"):
        stack.node("kafka-9")


def test_env_path_prefers_the_option_then_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HARNESS_ENV", raising=False)
    assert env_path(None) is None
    monkeypatch.setenv("HARNESS_ENV", "/x/env.yaml")
    assert env_path(None) == Path("/x/env.yaml")
    assert env_path("given.yaml") == Path("given.yaml")


def test_shipped_compose_env_file_is_the_compose_stacks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(layout.PORT_OFFSET_ENV, raising=False)
    shipped = load_env(ROOT / "docker" / "env.yaml")
    state = compose._state(True, compose.compose_file(), True, with_nats=True, with_sqs=True,
                           with_oauth=True)  # fmt: skip
    assert shipped == env_of_state(state)
    control = shipped.kafka.nodes["kafka-2"].control  # type: ignore[union-attr]
    assert control is not None and control.kill == ["docker", "kill", "harness-kafka-2"]
    assert control.resume == ["docker", "unpause", "harness-kafka-2"]


def test_compose_file_names_the_containers_the_env_file_drives() -> None:
    from ruamel.yaml import YAML

    services = YAML(typ="safe").load(compose.compose_file().read_text())["services"]
    assert all(s["container_name"] == f"harness-{name}" for name, s in services.items())


def _local_state(tmp_path: Path) -> StackState:
    node = NodeState(name="kafka-1", kind="kafka", argv=["x"], cwd=str(tmp_path),
                     data_dir=str(tmp_path), log_file=str(tmp_path / "k.log"),
                     ports={"proxy": 10091, "client": 20091}, proxy="kafka-1", probe="kafka",
                     probe_port=20091)  # fmt: skip
    return StackState(kafka_brokers=1, rabbitmq=False, kafka_bootstrap=["127.0.0.1:10091"],
                      toxiproxy_url="http://127.0.0.1:9474", nodes={"kafka-1": node})  # fmt: skip


def test_the_local_stacks_env_file_round_trips_with_harness_commands(tmp_path: Path) -> None:
    path = write_local_env(_local_state(tmp_path), tmp_path / "env.yaml")
    assert path.stat().st_mode & 0o077 == 0  # owner-only: it may hold passwords
    env = load_env(path)
    node = env.kafka.nodes["kafka-1"]  # type: ignore[union-attr]
    assert node.listen == "127.0.0.1:10091" and node.address == "127.0.0.1:20091"
    assert node.control is not None and node.control.restart is not None
    assert node.control.restart[-3:] == ["stack", "restart-node", "kafka-1"]
    assert node.control.kill is not None and node.control.kill[-2:] == ["kill-node", "kafka-1"]
    assert isinstance(env, EnvFile) and env.toxiproxy.api == "http://127.0.0.1:9474"
