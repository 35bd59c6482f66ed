"""The stack's start path without processes: the Kafka format template and the launcher registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import StackError
from harness.stack import kafka, launch
from harness.stack.state import NodeState, StackState

TOOL_OUTPUT = """#
#Wed Dec 02 17:49:48 UTC 2026
node.id=1
directory.id=dg_wuef8QvCmJQx7wLCuvw
version=1
cluster.id=AAAAAAAAAAAAAAAAAAAAAA
"""


def test_meta_properties_takes_the_node_cluster_and_a_fresh_directory() -> None:
    text = kafka._meta_properties(TOOL_OUTPUT, 3, "Zm9vYmFyYmF6cXV4cXV1eA")
    values = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    assert values["node.id"] == "3"
    assert values["cluster.id"] == "Zm9vYmFyYmF6cXV4cXV1eA"
    assert values["version"] == "1"
    assert values["directory.id"] not in ("dg_wuef8QvCmJQx7wLCuvw", "")
    again = kafka._meta_properties(TOOL_OUTPUT, 3, "Zm9vYmFyYmF6cXV4cXV1eA")
    assert again != text  # every node and every up gets its own directory id


def test_a_template_without_a_node_id_is_one_clear_error() -> None:
    with pytest.raises(StackError, match="node.id"):
        kafka._meta_properties("version=1\ncluster.id=x\ndirectory.id=y\n", 1, "c")


def test_format_from_template_writes_both_files(tmp_path: Path) -> None:
    template = tmp_path / "template"
    template.mkdir()
    (template / "bootstrap.checkpoint").write_bytes(b"\x00\x01checkpoint")
    (template / "meta.properties").write_text(TOOL_OUTPUT)
    assert kafka._template_ok(template)
    node = NodeState(name="kafka-2", kind="kafka", argv=[], cwd=str(tmp_path),
                     data_dir=str(tmp_path / "data"), log_file="")  # fmt: skip
    kafka._format_from_template(node, template, "Q2x1c3RlcklkQ2x1c3Rlcg")
    data = tmp_path / "data"
    assert (data / "bootstrap.checkpoint").read_bytes() == b"\x00\x01checkpoint"
    assert "node.id=2\n" in (data / "meta.properties").read_text()


def test_a_template_with_other_files_is_not_used(tmp_path: Path) -> None:
    (tmp_path / "bootstrap.checkpoint").write_bytes(b"x")
    (tmp_path / "meta.properties").write_text(TOOL_OUTPUT)
    (tmp_path / "__cluster_metadata-0").mkdir()
    assert not kafka._template_ok(tmp_path)
    assert not kafka._template_ok(tmp_path / "missing")


def test_every_node_kind_has_a_launcher_and_an_unknown_one_is_refused() -> None:
    assert {"kafka", "rabbitmq", "postgres", "nats"} <= set(launch.LAUNCHERS)
    state = StackState(kafka_brokers=0, rabbitmq=False, kafka_bootstrap=[])
    state.nodes["x"] = NodeState(name="x", kind="epmd", argv=[], cwd="", data_dir="",
                                 log_file="")  # fmt: skip
    with pytest.raises(StackError, match="No launcher"):
        launch._by_kind(state, {})
