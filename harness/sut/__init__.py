"""External systems under test: a command the harness starts, feeds, observes, crashes and restarts.

The command gets its wiring through ``HARNESS_*`` environment variables and reports what it did
(``recv``, ``effect``, ``dead_letter``) as JSON records on a report topic (Kafka) or report
queue (RabbitMQ), which an observer turns into history rows. See ``docs/system-under-test.md`` and ``examples/order_consumer.py``.
"""

from harness.sut.amqp_observer import AmqpReportObserver
from harness.sut.contract import AmqpWiring, Wiring, build_env, report_to_row, resolve_command
from harness.sut.external import ExternalSut, SutSpec, build_external_sut
from harness.sut.observer import ReportObserver, ReportTally
from harness.sut.process import SutProcess
from harness.sut.webhook_endpoint import ExternalEndpoint, WebhookEndpoint

__all__ = [
    "AmqpReportObserver",
    "AmqpWiring",
    "ExternalEndpoint",
    "ExternalSut",
    "ReportObserver",
    "ReportTally",
    "SutProcess",
    "SutSpec",
    "WebhookEndpoint",
    "Wiring",
    "build_env",
    "build_external_sut",
    "report_to_row",
    "resolve_command",
]
