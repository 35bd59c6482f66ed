"""Pure parts of the local stack: ports, Kafka node config, proxies, state file, provisioning
progress lines."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from harness.errors import StackError
from harness.stack import NodeState, StackState, layout, load_state
from harness.stack.kafka import new_cluster_id, server_properties
from harness.stack.local import check_brokers, proxies_for, toxiproxy_config
from harness.stack.provision import _progress_item
from harness.stack.state import save_state


def props(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line)


@pytest.fixture(autouse=True)
def _default_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(layout.PORT_OFFSET_ENV, raising=False)


def test_kafka_ports_follow_the_documented_scheme() -> None:
    ports = layout.KafkaPorts(2)
    assert (ports.proxy, ports.client, ports.internal, ports.controller) == (
        9092,
        19092,
        19192,
        19292,
    )
    assert layout.kafka_bootstrap(3) == ["127.0.0.1:9091", "127.0.0.1:9092", "127.0.0.1:9093"]


def test_stack_ports_are_distinct_and_cover_every_listener() -> None:
    ports = layout.stack_ports(3, rabbitmq=True)
    assert len(ports) == len(set(ports)) == 1 + 3 * 4 + 4
    assert 8474 in ports and 5672 in ports
    assert layout.stack_ports(1, rabbitmq=False) == [8474, 9091, 19091, 19191, 19291]


def test_port_offset_moves_every_port(monkeypatch: pytest.MonkeyPatch) -> None:
    base = set(layout.stack_ports(3, rabbitmq=True))
    monkeypatch.setenv(layout.PORT_OFFSET_ENV, "1000")
    shifted = set(layout.stack_ports(3, rabbitmq=True))
    assert shifted == {p + 1000 for p in base}
    assert not shifted & base
    assert layout.toxiproxy_url() == "http://127.0.0.1:9474"
    assert layout.rabbitmq_url() == "amqp://guest:guest@127.0.0.1:6672/%2F"


@pytest.mark.parametrize("node_id", [1, 2, 3])
def test_broker_advertises_its_proxy_and_replicates_internally(node_id: int) -> None:
    config = props(server_properties(node_id, 3, Path("/data")))
    ports = layout.KafkaPorts(node_id)
    assert config["node.id"] == str(node_id)
    assert config["advertised.listeners"] == (
        f"CLIENT://127.0.0.1:{ports.proxy},INTERNAL://127.0.0.1:{ports.internal}"
    )
    assert f"CLIENT://127.0.0.1:{ports.client}" in config["listeners"]
    assert config["inter.broker.listener.name"] == "INTERNAL"
    assert config["controller.listener.names"] == "CONTROLLER"
    assert (
        config["controller.quorum.voters"]
        == "1@127.0.0.1:19291,2@127.0.0.1:19292,3@127.0.0.1:19293"
    )
    assert config["offsets.topic.replication.factor"] == "3"
    assert config["log.dirs"] == "/data"


def test_single_broker_keeps_internal_topics_at_replication_one() -> None:
    config = props(server_properties(1, 1, Path("/d")))
    assert config["controller.quorum.voters"] == "1@127.0.0.1:19291"
    assert config["offsets.topic.replication.factor"] == "1"
    assert config["transaction.state.log.min.isr"] == "1"


def test_cluster_id_is_kafka_uuid_shaped() -> None:
    ids = {new_cluster_id() for _ in range(20)}
    assert len(ids) == 20
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{22}", i) for i in ids)


def test_one_proxy_per_client_listener_named_after_its_node() -> None:
    proxies = proxies_for(3, with_rabbitmq=True)
    assert [p.name for p in proxies] == ["kafka-1", "kafka-2", "kafka-3", "rabbitmq"]
    assert proxies[1].listen == "127.0.0.1:9092" and proxies[1].upstream == "127.0.0.1:19092"
    assert proxies[3].listen == "127.0.0.1:5672" and proxies[3].upstream == "127.0.0.1:16672"
    assert [p.name for p in proxies_for(1, with_rabbitmq=False)] == ["kafka-1"]


def test_toxiproxy_config_file_lists_enabled_proxies() -> None:
    config = json.loads(toxiproxy_config(proxies_for(1, with_rabbitmq=True)))
    assert config == [
        {"name": "kafka-1", "listen": "127.0.0.1:9091", "upstream": "127.0.0.1:19091",
         "enabled": True},
        {"name": "rabbitmq", "listen": "127.0.0.1:5672", "upstream": "127.0.0.1:16672",
         "enabled": True},
    ]  # fmt: skip


@pytest.mark.parametrize("brokers", [0, 4, -1])
def test_broker_count_outside_one_to_three_is_refused(brokers: int) -> None:
    with pytest.raises(StackError, match="between 1 and 3"):
        check_brokers(brokers)


def test_state_file_round_trips(tmp_path: Path) -> None:
    node = NodeState(name="kafka-1", kind="kafka", pid=42, start_ticks=7, argv=["java"],
                     cwd="/x", data_dir="/x/data", log_file="/x.log", ports={"proxy": 9091},
                     proxy="kafka-1", probe="kafka", probe_port=19091)  # fmt: skip
    state = StackState(kafka_brokers=1, rabbitmq=False, kafka_bootstrap=["127.0.0.1:9091"],
                       nodes={"kafka-1": node})  # fmt: skip
    path = tmp_path / "run" / "stack.json"
    save_state(state, path)
    assert load_state(path) == state
    assert load_state(tmp_path / "absent.json") is None


def test_unreadable_state_file_says_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "stack.json"
    path.write_text("{not json")
    with pytest.raises(StackError, match="delete the file"):
        load_state(path)


@pytest.mark.parametrize(
    ("line", "item"),
    [
        ("Downloaded from central: https://example.invalid/a/b/kafka_2.13-4.1.2.jar (6 MB at 1 MB/s)",
         "kafka_2.13-4.1.2.jar"),
        ("go: downloading github.com/gorilla/mux v1.8.1", "github.com/gorilla/mux v1.8.1"),
        ("[INFO] BUILD SUCCESS", None),
    ],
)  # fmt: skip
def test_progress_lines_name_the_artifact(line: str, item: str | None) -> None:
    assert _progress_item(line) == item


def test_cluster_ids_never_start_with_a_dash_that_kafka_storage_would_read_as_an_option() -> None:
    ids = [new_cluster_id() for _ in range(2000)]  # about 31 would start with "-" before
    assert not [i for i in ids if i.startswith("-")]
    assert all(len(i) == 22 for i in ids)
