"""Live metrics: counts from literal history batches, histogram binning, the endpoint's
address policy and option parsing, and the history writer's flush hook."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from harness.errors import ConfigError, UnsafeTargetError
from harness.history import SCHEMA, HistoryWriter
from harness.history.tail import PartialTail
from harness.metrics import (
    BatchHistogram,
    MetricsHub,
    RunMetrics,
    parse_metrics_port,
    parse_pushgateway,
)


def batch(*rows: dict) -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist(list(rows), schema=SCHEMA)


def send(i: int, status: str = "ok", t: float = 10.0, slip: float = 0.001) -> dict:
    return {"op": "send", "id": f"e{i}", "t_intended": t, "t": t + slip, "t_ack": t + 0.01,
            "status": status}  # fmt: skip


def recv(i: int, t: float) -> dict:
    return {"op": "recv", "id": f"e{i}", "t": t}


def samples(metrics: RunMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry()
    registry.register(metrics)
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


LABELS = (("scenario", "s"), ("target", "kafka"))


def test_counts_each_outcome_and_delivery():
    metrics = RunMetrics("s", "kafka", now=lambda: 11.0)
    metrics.observe([batch(send(1), send(2, "fail"), send(3, "unknown"), send(4, None)),
                     batch(recv(1, 10.05), recv(1, 10.3), {"op": "dead_letter", "id": "e9"})])  # fmt: skip
    assert metrics.counts() == {
        "events_sent": 4,
        "events_acknowledged": 1,
        "events_failed": 1,
        "events_unknown": 2,
        "events_received": 2,
        "events_dead_lettered": 1,
    }
    got = samples(metrics)
    assert got[("harness_events_sent_total", LABELS)] == 4
    assert got[("harness_events_received_total", LABELS)] == 2


def test_latency_from_intended_time_first_delivery_either_flush_order():
    metrics = RunMetrics("s", "kafka", now=lambda: 11.0)
    metrics.observe([batch(recv(1, 10.2))])  # delivered before its send row was flushed
    metrics.observe([batch(send(1), send(2)), batch(recv(2, 10.03), recv(2, 10.9))])
    assert metrics.latency.count == 2
    assert metrics.latency.sum == pytest.approx(0.2 + 0.03)
    got = samples(metrics)
    bucket = ("harness_end_to_end_latency_seconds_bucket", (("le", "0.05"), *LABELS))
    assert got[bucket] == 1
    assert got[("harness_schedule_slip_seconds_count", LABELS)] == 2


def test_lost_so_far_counts_old_unreceived_acks_and_falls_on_a_late_delivery():
    clock = [10.0]
    metrics = RunMetrics("s", "kafka", lost_after=15.0, now=lambda: clock[0])
    metrics.observe([batch(send(1), send(2), send(3, "fail"), recv(2, 10.1))])
    assert metrics.lost_so_far() == 0  # too early to say
    clock[0] = 30.0
    assert metrics.lost_so_far() == 1
    assert samples(metrics)[("harness_events_lost", LABELS)] == 1
    metrics.observe([batch(recv(1, 29.0))])
    assert metrics.lost_so_far() == 0


def test_faults_active_and_windows_by_kind_and_target():
    active = [("toxic.latency", "kafka-1"), ("kill", "kafka-2")]
    metrics = RunMetrics("s", "kafka", active_faults=lambda: active)
    metrics.observe([batch({"op": "fault", "kind": "pause", "target": "kafka-3",
                            "t_start": 1.0, "t_end": 2.0})])  # fmt: skip
    got = samples(metrics)
    key = ("harness_faults_active", (("kind", "kill"), ("scenario", "s"), ("target", "kafka-2")))
    assert got[key] == 1
    windows = ("harness_fault_windows_total",
               (("kind", "pause"), ("scenario", "s"), ("target", "kafka-3")))  # fmt: skip
    assert got[windows] == 1
    active.clear()
    assert not [k for k in samples(metrics) if k[0] == "harness_faults_active"]


def test_every_name_follows_the_conventions():
    metrics = RunMetrics("s", "kafka")
    metrics.observe([batch(send(1), recv(1, 10.1))])
    for name, _ in samples(metrics):
        assert name.startswith("harness_")
    registry = CollectorRegistry()
    registry.register(metrics)
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        if family.type == "counter":
            assert all(s.name.endswith("_total") for s in family.samples)
        if family.type == "histogram":
            assert family.name.endswith("_seconds")


def test_histogram_bins_values_on_bounds_as_le():
    h = BatchHistogram((0.1, 1.0))
    h.add(np.array([0.1, 0.5, 1.0, 3.0, np.nan, np.inf]))
    assert h.cumulative() == [("0.1", 1), ("1.0", 3), ("+Inf", 4)]
    assert h.count == 4 and h.sum == pytest.approx(4.6)
    with pytest.raises(ValueError):
        BatchHistogram((1.0, 0.5))


def test_writer_hands_each_flush_to_the_listener_and_survives_its_failure(tmp_path: Path):
    seen: list[int] = []
    with HistoryWriter(
        tmp_path / "h.parquet", on_flush=lambda b: seen.append(sum(map(len, b)))
    ) as w:
        w.append(send(1))
        w.flush()
        w.append_table(pa.table({"op": ["send"], "id": ["e2"]}))
    assert sum(seen) == 2

    def broken(_: object) -> None:
        raise RuntimeError("boom")

    with HistoryWriter(tmp_path / "b.parquet", on_flush=broken) as w:
        w.append(send(1))
        w.flush()
        w.append(send(2))
    assert isinstance(w.listener_error, RuntimeError)
    assert pq.read_table(tmp_path / "b.parquet").num_rows == 2


def test_hub_serves_metrics_on_loopback(tmp_path: Path):
    with MetricsHub(port=0) as hub:
        metrics = hub.feed("s", "kafka")
        metrics.observe([batch(send(1))])
        body = urllib.request.urlopen(hub.url, timeout=5).read().decode()
    assert hub.url.startswith("http://127.0.0.1:")
    assert 'harness_events_sent_total{scenario="s",target="kafka"} 1.0' in body


def test_hub_refuses_a_non_loopback_bind_unless_allow_listed(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("HARNESS_ALLOW_HOSTS", raising=False)
    with pytest.raises(UnsafeTargetError, match="HARNESS_ALLOW_HOSTS"):
        MetricsHub(host="0.0.0.0", port=0)
    monkeypatch.setenv("HARNESS_ALLOW_HOSTS", "0.0.0.0")
    MetricsHub(host="0.0.0.0", port=0).close()


def test_hub_reports_a_busy_port_in_one_line():
    with MetricsHub(port=0) as hub:
        port = int(hub.url.rsplit(":", 1)[1].split("/")[0])
        with pytest.raises(ConfigError, match=f"--metrics-port {port}: cannot listen"):
            MetricsHub(port=port)


def test_push_failure_is_a_warning_not_an_exception():
    hub = MetricsHub(pushgateway="http://127.0.0.1:1", push_every=3600)
    hub.feed("s", "kafka")
    hub.close()
    assert len(hub.errors) == 1 and "Pushgateway http://127.0.0.1:1" in hub.errors[0]


@pytest.mark.parametrize("text", ["-1", "65536", "x", "9464.0"])
def test_metrics_port_must_be_a_port(text: str):
    with pytest.raises(ConfigError, match="--metrics-port"):
        parse_metrics_port(text)


def test_pushgateway_url_is_checked_and_pinned(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("HARNESS_ALLOW_HOSTS", raising=False)
    assert parse_pushgateway("localhost:9091") in (
        "http://127.0.0.1:9091",
        "http://[::1]:9091",
    )
    with pytest.raises(UnsafeTargetError, match="--pushgateway"):
        parse_pushgateway("http://example.com:9091")
    with pytest.raises(ConfigError, match="not an http"):
        parse_pushgateway("ftp://127.0.0.1")


def test_a_tail_returns_each_batch_of_a_growing_stream_once(tmp_path: Path):
    writer = HistoryWriter(tmp_path / "shard.parquet", flush_interval=3600)
    tail = PartialTail(writer.partial)
    assert tail.new_batches() == []
    writer.append(send(1))
    writer.flush()
    writer.append(send(2))
    writer.append(send(3))
    first = tail.new_batches()
    writer.flush()
    second = tail.new_batches()
    writer.close()
    assert [b.num_rows for b in first] == [1] and [b.num_rows for b in second] == [2]
    assert second[0].column(1).to_pylist() == ["e2", "e3"] and tail.rows == 3
    assert tail.new_batches() == []  # finished: the stream is gone


def test_a_merge_hands_the_listener_only_the_rows_the_tail_missed(tmp_path: Path):
    seen: list[str] = []
    table = pa.Table.from_batches([batch(send(1), send(2), send(3))])
    with HistoryWriter(
        tmp_path / "h.parquet",
        on_flush=lambda bs: seen.extend(i for b in bs for i in b.column(1).to_pylist()),
    ) as writer:
        writer.append_table(table, told=2)
    assert seen == ["e3"]
    assert pq.read_table(tmp_path / "h.parquet").num_rows == 3
