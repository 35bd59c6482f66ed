"""Live metrics of a run for Prometheus: aggregated from the history writer's flushes, served
on ``/metrics`` and pushed to a Pushgateway (``docs/metrics.md``)."""

from harness.metrics.exporter import MetricsHub, parse_metrics_port, parse_pushgateway
from harness.metrics.feed import LOST_AFTER_S, RunMetrics
from harness.metrics.histogram import BatchHistogram

__all__ = [
    "LOST_AFTER_S",
    "BatchHistogram",
    "MetricsHub",
    "RunMetrics",
    "parse_metrics_port",
    "parse_pushgateway",
]
