"""The local stack's process helpers: whether a port can be bound, and a log's last lines."""

from __future__ import annotations

import socket
from pathlib import Path

from harness.stack import layout, process


def test_a_port_held_as_the_local_end_of_a_connection_is_not_free() -> None:
    # What failed CI once: a client connection had taken PostgreSQL's port as its ephemeral
    # local port, a connect to it was refused, and the server then could not bind it.
    with socket.socket() as server, socket.socket() as client:
        server.bind(("127.0.0.1", 0))
        server.listen()
        client.bind(("127.0.0.1", 0))
        held = client.getsockname()[1]
        client.connect(server.getsockname())
        assert not process.port_open(held)
        assert not process.port_free(held)


def test_a_listening_port_is_not_free_and_a_closed_one_is() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        port = server.getsockname()[1]
        server.listen()
        assert not process.port_free(port)
    assert process.port_free(port)


def test_every_upstream_port_lies_below_the_ephemeral_range() -> None:
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    upstream = [
        layout.rabbitmq_amqp_port(), layout.rabbitmq_dist_port(), layout.epmd_port(),
        layout.postgres_port(), layout.moto_port(), layout.sqs_port(), layout.oauth_port(),
        layout.pubsub_port(),
        *(p for n in range(1, layout.MAX_KAFKA_BROKERS + 1)
          for p in (layout.KafkaPorts(n).client, layout.KafkaPorts(n).internal,
                    layout.KafkaPorts(n).controller)),
    ]  # fmt: skip
    assert max(upstream) < low


def test_the_log_tail_keeps_the_last_lines_of_a_bounded_read(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    log.write_text("".join(f"line {i}\n" for i in range(10_000)))
    tail = process.log_tail(log, lines=3)
    assert tail.endswith("  line 9997\n  line 9998\n  line 9999")
    assert "line 9996" not in tail


def test_a_missing_or_blank_log_adds_nothing(tmp_path: Path) -> None:
    assert process.log_tail(tmp_path / "absent.log") == ""
    (tmp_path / "blank.log").write_text("\n\n  \n")
    assert process.log_tail(tmp_path / "blank.log") == ""
