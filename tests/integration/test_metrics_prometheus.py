"""A real Prometheus server (Debian's ``prometheus``) scrapes a running ``harness run`` and a
series is read back through its HTTP API.

The server runs on loopback with a temporary config and data dir, scraping every second;
``harness run --metrics-port`` serves a short Kafka storm with one latency fault, sent by two
storm shards (the default engine), whose rows the metrics follow live. Ports sit
at ``9090`` and ``9464`` plus ``$HARNESS_PORT_OFFSET``, beside the stack's own.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from harness.stack import Stack, layout
from tests.integration.integration_support import wait_for

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
SCENARIO = """\
name: metrics-prometheus
target:
  kafka: {topic: metrics-prometheus, partitions: 3, replication_factor: 1, min_insync_replicas: 1}
producer: {acks: all}
storm:
  duration: 14s
  rate: {shape: constant, per_second: 300}
  keys: {count: 8}
faults:
  - at: 2s
    toxic: {type: latency, target: kafka-1, stream: downstream, attributes: {latency: 50}}
    duration: 10s
drain: {timeout: 20s}
"""


def _ports() -> tuple[int, int]:
    offset = layout.port_offset()
    return 9090 + offset, 9464 + offset


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read()
    except OSError:
        return 0, b""


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Prometheus server on loopback scraping the harness's metrics port every second."""
    assert Path(PROMETHEUS).exists(), "Debian's prometheus is missing: run ./scripts/bootstrap"
    web, metrics = _ports()
    work = tmp_path_factory.mktemp("prometheus")
    config = work / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, scrape_timeout: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: harness\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{metrics}']}}]\n"
    )
    log = (work / "prometheus.log").open("wb")
    server = subprocess.Popen(
        [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={work / 'data'}",
         f"--web.listen-address=127.0.0.1:{web}"],  # fmt: skip
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{web}"
    try:
        wait_for(lambda: _get(f"{url}/-/ready")[0] == 200 or server.poll() is not None, 20,
                 "Prometheus to be ready")  # fmt: skip
        assert server.poll() is None, (work / "prometheus.log").read_text()[-2000:]
        yield url
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def _query(url: str, promql: str) -> list[dict[str, Any]]:
    status, body = _get(f"{url}/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
    if status != 200:
        return []
    answer = json.loads(body)
    assert answer["status"] == "success", answer
    return answer["data"]["result"]  # type: ignore[no-any-return]


def _value(url: str, promql: str) -> float:
    result = _query(url, promql)
    return float(result[0]["value"][1]) if result else 0.0


def test_prometheus_scrapes_a_running_harness(prometheus: str, stack: Stack, tmp_path: Path):
    _, port = _ports()
    scenario = tmp_path / "metrics-prometheus.yaml"
    scenario.write_text(SCENARIO)
    out = tmp_path / "run"
    run = subprocess.Popen(
        [sys.executable, "-m", "harness", "run", str(scenario), "--seed", "7", "--out",
         str(out), "--no-progress", "--no-report", "--processes", "2",
         "--metrics-port", str(port)],  # fmt: skip
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    sent = 'harness_events_sent_total{job="harness",scenario="metrics-prometheus",target="kafka"}'
    fault = 'harness_faults_active{kind="toxic.latency",target="kafka-1"}'
    try:
        wait_for(lambda: _value(prometheus, sent) > 0 or run.poll() is not None, 40,
                 "Prometheus to hold a sample of harness_events_sent_total")  # fmt: skip
        assert run.poll() is None, "the run ended before Prometheus saw it"
        wait_for(lambda: _value(prometheus, fault) == 1 or run.poll() is not None, 20,
                 "the active latency fault in Prometheus")  # fmt: skip
        assert _value(prometheus, fault) == 1
        p99 = ("histogram_quantile(0.99, rate(harness_end_to_end_latency_seconds_bucket"
               '{scenario="metrics-prometheus"}[5s]))')  # fmt: skip
        wait_for(lambda: _value(prometheus, p99) > 0.04 or run.poll() is not None, 20,
                 "p99 latency above the 50 ms toxic")  # fmt: skip
        seen = _value(prometheus, sent)
        output, _ = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.terminate()
            run.wait(30)
    assert run.returncode == 0, output[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert 0 < seen <= summary["metrics"]["sent"]


SERVICE_SCENARIO = """\
name: metrics-service-scrape
target:
  kafka: {topic: metrics-service, partitions: 3, replication_factor: 1, min_insync_replicas: 1}
producer: {acks: all}
consumer: {group: orders-metrics, commit: after_effect}
system_under_test:
  command: [python, examples/order_consumer.py]
  env: {ORDER_CONSUMER_METRICS_PORT: "@PORT@"}
  mode: correct
service_metrics:
  url: http://127.0.0.1:@PORT@/metrics
  every: 500ms
  series: [orders_consumed_total, orders_consumer_lag]
storm:
  duration: 8s
  rate: {shape: constant, per_second: 200}
  keys: {count: 8}
faults:
  - at: 2s
    toxic: {type: latency, target: kafka-1, stream: downstream, attributes: {latency: 100}}
    duration: 3s
drain: {timeout: 20s}
"""


def test_the_service_metrics_are_scraped_and_charted_beside_the_harness(
    stack: Stack, tmp_path: Path
):
    port = 9465 + layout.port_offset()
    scenario = tmp_path / "metrics-service-scrape.yaml"
    scenario.write_text(SERVICE_SCENARIO.replace("@PORT@", str(port)))
    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "harness", "run", str(scenario), "--seed", "3", "--out",
         str(out), "--no-progress", "--processes", "1"],  # fmt: skip
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    samples = pq.read_table(out / "service-metrics.parquet").to_pandas()
    consumed = samples[samples.series == "orders_consumed_total"].sort_values("t")
    assert len(consumed) >= 8, samples  # every 0.5 s over an 8 s storm and the drain
    summary = json.loads((out / "summary.json").read_text())
    assert consumed.value.iloc[-1] >= summary["counts"]["deliveries"] > 0
    assert set(samples.series) == {"orders_consumed_total", "orders_consumer_lag"}
    assert (out / "service-metrics.png").stat().st_size > 10_000
    assert "service-metrics.png" in (out / "report.html").read_text()
