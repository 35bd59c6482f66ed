"""The ``partition`` fault: Jepsen's shapes as grudges (laws over any node list), the iptables
rules that carry a grudge out, and the scenario checks of the fault's settings."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scenario_support import MINIMAL_SCENARIO

from harness.errors import ConfigError, StackError
from harness.faults import grudges
from harness.faults.kinds.partition import Partition
from harness.scenario import parse_scenario
from harness.stack import netcut

NODE_LISTS = st.lists(
    st.text(alphabet="abcdefghij", min_size=1, max_size=3), min_size=2, max_size=9, unique=True
)
SHAPE = st.sampled_from(grudges.SHAPES)


def build(shape: str, nodes: list[str], data: st.DataObject) -> grudges.Grudge:
    isolated = data.draw(st.sampled_from(nodes)) if shape == "isolate" else None
    return grudges.grudge(shape, nodes, isolated)


def heard_by(grudge: grudges.Grudge, node: str) -> frozenset[str]:
    return frozenset(grudge) - grudge[node]


@given(NODE_LISTS, SHAPE, st.data())
def test_a_grudge_covers_every_node_and_never_cuts_a_node_from_itself(
    nodes: list[str], shape: str, data: st.DataObject
) -> None:
    grudge = build(shape, nodes, data)
    assert set(grudge) == set(nodes)
    for node, senders in grudge.items():
        assert node not in senders
        assert senders <= set(nodes)


@given(NODE_LISTS, st.sampled_from(grudges.SYMMETRIC_SHAPES), st.data())
def test_symmetric_shapes_are_symmetric(nodes: list[str], shape: str, data: st.DataObject) -> None:
    grudge = build(shape, nodes, data)
    for deaf, sender in grudges.cut_pairs(grudge):
        assert deaf in grudge[sender]


@given(NODE_LISTS)
def test_majority_side_is_a_strict_majority_and_hears_only_itself(nodes: list[str]) -> None:
    grudge = grudges.majority(nodes)
    sides = {heard_by(grudge, n) for n in nodes}
    big = max(sides, key=len)
    assert 2 * len(big) > len(nodes)
    assert sum(len(s) for s in sides) == len(nodes)
    assert len(sides) == (1 if len(nodes) == 2 else 2)


@given(NODE_LISTS, st.data())
def test_isolate_cuts_exactly_one_node_off_both_ways(nodes: list[str], data: st.DataObject) -> None:
    loner = data.draw(st.sampled_from(nodes))
    grudge = grudges.isolate(loner, nodes)
    assert grudge[loner] == frozenset(nodes) - {loner}
    for other in nodes:
        if other != loner:
            assert grudge[other] == {loner}


@given(NODE_LISTS)
def test_halves_split_the_nodes_into_two_halves(nodes: list[str]) -> None:
    grudge = grudges.halves(nodes)
    sides = sorted({heard_by(grudge, n) for n in nodes}, key=len)
    assert [len(s) for s in sides] == [len(nodes) // 2, len(nodes) - len(nodes) // 2]


@given(NODE_LISTS)
def test_a_bridge_hears_and_is_heard_by_everyone_while_the_sides_are_cut(
    nodes: list[str],
) -> None:
    grudge = grudges.bridge(nodes)
    first, second = grudges.bisect(nodes)
    hub = second[0]
    assert grudge[hub] == frozenset()
    assert all(hub not in senders for senders in grudge.values())
    for a in first:
        for b in second[1:]:
            assert b in grudge[a] and a in grudge[b]


@given(st.lists(st.integers(0, 99), min_size=3, max_size=9, unique=True))
def test_in_a_ring_every_node_hears_a_majority_and_no_two_the_same(ids: list[int]) -> None:
    nodes = [f"n{i}" for i in ids]
    grudge = grudges.ring(nodes)
    views = [heard_by(grudge, n) for n in nodes]
    for node, view in zip(nodes, views, strict=True):
        assert node in view
        assert 2 * len(view) > len(nodes)
    assert len(set(views)) == len(nodes)


def test_three_brokers_in_a_ring_is_a_one_way_cycle() -> None:
    grudge = grudges.ring(["a", "b", "c"])
    assert grudge == {"a": {"c"}, "b": {"a"}, "c": {"b"}}
    assert grudges.describe(grudge) == "a hears not c; b hears not a; c hears not b"


def test_describe_names_the_sides_of_a_clean_cut() -> None:
    assert grudges.describe(grudges.isolate("k1", ["k1", "k2", "k3"])) == "k1 -/- k2, k3"
    assert grudges.describe({"a": frozenset(), "b": frozenset()}) == "no cut"


def test_bad_shapes_and_nodes_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown partition shape"):
        grudges.grudge("star", ["a", "b"])
    with pytest.raises(ValueError, match="isolate needs"):
        grudges.grudge("isolate", ["a", "b"], "z")
    with pytest.raises(ValueError, match="distinct"):
        grudges.grudge("halves", ["a", "a"])


# ---- rules ------------------------------------------------------------------------------


def peers() -> dict[str, netcut.Peer]:
    return {
        f"kafka-{n}": netcut.Peer(f"kafka-{n}", n, f"harness-7/kafka-{n}", (100 + n, 200 + n))
        for n in (1, 2, 3)
    }


def test_a_grudge_pair_drops_what_the_sender_opens_and_what_it_replies() -> None:
    rules = netcut.cut_rules({"kafka-1": {"kafka-2"}}, peers(), tag="f1")
    text = [" ".join(r) for r in rules]
    marks = [t for t in text if "CONNMARK" in t]
    drops = [t for t in text if t.endswith("-j DROP")]
    assert len(marks) == 2 and len(drops) == 2
    assert all("--comment harness-fault:f1" in t for t in text)
    assert "--path harness-7/kafka-1 -m multiport --dports 102,202" in marks[0]
    assert marks[0].endswith("--set-xmark 0x10000/0xff0000")
    # kafka-2's packets to kafka-1's listeners, and on connections kafka-1 opened
    assert "--path harness-7/kafka-2 -m multiport --dports 101,201" in drops[0]
    assert "--path harness-7/kafka-2 -m connmark --mark 0x10000/0xff0000" in drops[1]
    assert text.index(marks[-1]) < text.index(drops[0]), "marks must come before the drops"


@given(st.sampled_from(grudges.SHAPES), st.permutations(["kafka-1", "kafka-2", "kafka-3"]))
def test_rules_carry_out_every_cut_and_nothing_else(shape: str, order: list[str]) -> None:
    grudge = grudges.grudge(shape, order, order[0] if shape == "isolate" else None)
    rules = netcut.cut_rules(grudge, peers(), tag="t", action="reject")
    drops = [r for r in rules if r[-1] == "REJECT"]
    assert len(drops) == 2 * len(grudges.cut_pairs(grudge))
    by_cgroup = {p.cgroup: name for name, p in peers().items()}
    for rule in drops:
        sender = by_cgroup[rule[rule.index("--path") + 1]]
        if "--dports" in rule:
            ports = rule[rule.index("--dports") + 1]
            deaf = next(n for n, p in peers().items() if ports == f"{p.ports[0]},{p.ports[1]}")
        else:
            mark = int(rule[rule.index("--mark") + 1].split("/")[0], 16) >> 16
            deaf = f"kafka-{mark}"
        assert sender in grudge[deaf]


def test_rules_refuse_unknown_nodes_and_actions() -> None:
    with pytest.raises(StackError, match="not a broker"):
        netcut.cut_rules({"kafka-9": {"kafka-1"}}, peers(), tag="x")
    with pytest.raises(StackError, match="drop, reject"):
        netcut.cut_rules({"kafka-1": {"kafka-2"}}, peers(), tag="x", action="explode")
    assert netcut.cut_rules({"kafka-1": frozenset()}, peers(), tag="x") == []


def test_the_chain_and_cgroups_carry_the_port_offset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_PORT_OFFSET", "2000")
    assert netcut.chain() == "HARNESS-NET-2000"
    assert netcut.cgroup_for("kafka-2") == "harness-2000/kafka-2"


# ---- scenario ---------------------------------------------------------------------------


def scenario_with(fault: str) -> str:
    return MINIMAL_SCENARIO + "faults:\n  - at: 5s\n" + fault + "    duration: 5s\n"


def test_a_partition_fault_parses_with_its_shape() -> None:
    scenario = parse_scenario(
        scenario_with(
            "    partition: {shape: isolate, target: leader_of_partition, partition: 0}\n"
        )
    )
    settings = scenario.faults[0].settings
    assert isinstance(settings, Partition)
    assert settings.describe() == "isolate leader_of_partition 0"
    parse_scenario(scenario_with("    partition: {shape: isolate, target: controller_leader}\n"))
    parse_scenario(scenario_with("    partition: {shape: ring}\n"))


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("    partition: {shape: star}\n", "shape"),
        ("    partition: {shape: halves, target: kafka-1}\n", "applies only to shape isolate"),
        ("    partition: {shape: isolate, target: all}\n", "cuts off one broker"),
        ("    partition: {shape: isolate, target: kafka-9}\n", "unknown target"),
        ("    partition: {shape: isolate, target: leader_of_partition}\n", "needs 'partition"),
        ("    partition: {shape: isolate, action: shrug}\n", "action"),
    ],
)
def test_bad_partition_settings_are_named(fault: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_scenario(scenario_with(fault))


def test_the_kafka_target_takes_unclean_leader_election() -> None:
    text = MINIMAL_SCENARIO.replace(
        "{topic: orders, partitions: 6}", "{topic: orders, unclean_leader_election: true}"
    )
    assert parse_scenario(text).target.kafka.unclean_leader_election is True
    assert parse_scenario(MINIMAL_SCENARIO).target.kafka.unclean_leader_election is False


def test_the_rules_go_to_iptables_restore_as_one_transaction(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HARNESS_PORT_OFFSET", "5")
    rules = netcut.cut_rules({"kafka-1": {"kafka-2"}}, peers(), tag="f1")
    text = netcut.restore_text(rules).splitlines()
    assert text[0] == "*filter" and text[-1] == "COMMIT"
    assert len(text) == len(rules) + 2
    assert all(line.startswith("-A HARNESS-NET-5 -p tcp -m cgroup") for line in text[1:-1])
