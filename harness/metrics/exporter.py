"""Where a run's metrics go: a ``/metrics`` endpoint and, for short CI jobs, a Pushgateway.

``MetricsHub`` owns one ``CollectorRegistry`` for the whole ``harness run`` (a suite's
scenarios are told apart by their ``scenario`` label), the HTTP server (prometheus-client's
own, on a daemon thread) and the pusher (a daemon thread pushing every ``push_every``
seconds, and once more when a scenario ends and when the hub closes).

The endpoint binds loopback unless its host is allow-listed (``harness.safety``): a metrics
port on every interface is an exposure a user must ask for by name. The Pushgateway URL's
host is checked the same way and pinned to the address checked.

    with MetricsHub(port=9464) as hub:
        metrics = hub.feed("kafka-latency-spike", "kafka")
"""

from __future__ import annotations

import threading
from types import TracebackType
from urllib.parse import urlsplit, urlunsplit

from prometheus_client import CollectorRegistry, push_to_gateway, start_http_server

from harness.errors import ConfigError, UnsafeTargetError
from harness.metrics.feed import ActiveFaults, RunMetrics
from harness.safety import check_target, pin_address, redact_url

PUSH_EVERY_S = 10.0
PUSH_JOB = "harness"


class MetricsHub:
    """The registry, endpoint and pusher of one ``harness run``; a context manager."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        pushgateway: str | None = None,
        push_every: float = PUSH_EVERY_S,
    ) -> None:
        self.registry = CollectorRegistry()
        self.errors: list[str] = []
        self._feeds: dict[str, RunMetrics] = {}
        self._server = None
        self._gateway = parse_pushgateway(pushgateway) if pushgateway else None
        self._push_every = push_every
        self._stop = threading.Event()
        self._push_lock = threading.Lock()
        self._pusher: threading.Thread | None = None
        self.url = ""
        if port is not None:
            self._serve(host, port)
        if self._gateway is not None:
            self._pusher = threading.Thread(target=self._push_loop, name="metrics-push",
                                            daemon=True)  # fmt: skip
            self._pusher.start()

    def _serve(self, host: str, port: int) -> None:
        try:
            check_target(host)
        except UnsafeTargetError as error:
            raise UnsafeTargetError(f"--metrics-host: {error}") from None
        try:
            server, _ = start_http_server(port, addr=host, registry=self.registry)
        except OSError as error:
            why = error.strerror or str(error)
            raise ConfigError(
                f"--metrics-port {port}: cannot listen on {host}:{port} ({why}); pick a free "
                "port, or 0 for any free one."
            ) from None
        self._server = server
        bound = server.server_address[1]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{bound}/metrics"

    def feed(
        self, scenario: str, target: str, active_faults: ActiveFaults = lambda: ()
    ) -> RunMetrics:
        """A new ``RunMetrics`` for ``scenario``, registered (a previous run of the same
        scenario in this hub is replaced)."""
        old = self._feeds.pop(scenario, None)
        if old is not None:
            self.registry.unregister(old)
        metrics = RunMetrics(scenario, target, active_faults=active_faults)
        self.registry.register(metrics)
        self._feeds[scenario] = metrics
        return metrics

    def push(self) -> None:
        """Push every metric to the Pushgateway now (nothing without one); a failure is kept
        in ``errors`` once and does not stop the run."""
        if self._gateway is None:
            return
        with self._push_lock:
            try:
                push_to_gateway(self._gateway, job=PUSH_JOB, registry=self.registry, timeout=5)
            except OSError as error:
                text = f"push to the Pushgateway {redact_url(self._gateway)} failed: {error}"
                if text not in self.errors:
                    self.errors.append(text)

    def _push_loop(self) -> None:
        while not self._stop.wait(self._push_every):
            self.push()

    def close(self) -> None:
        """Stop pushing (after a last push) and serving. Idempotent."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self._pusher is not None:
            self._pusher.join()
        self.push()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> MetricsHub:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def parse_pushgateway(url: str) -> str:
    """``--pushgateway URL`` checked (http or https, loopback or allow-listed host) and pinned
    to the checked address; ``ConfigError`` or ``UnsafeTargetError`` otherwise."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"--pushgateway {redact_url(url)!r} is not an http(s) URL with a host; give e.g. "
            "http://127.0.0.1:9091"
        )
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(
            f"--pushgateway {redact_url(url)!r} has a port that is not a number from 1 to "
            "65535; give e.g. http://127.0.0.1:9091"
        ) from None
    try:
        address = pin_address(parts.hostname)
    except UnsafeTargetError as error:
        raise UnsafeTargetError(f"--pushgateway: {error}") from None
    host = f"[{address}]" if ":" in address else address
    netloc = host if port is None else f"{host}:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


def parse_metrics_port(text: str | None) -> int | None:
    """``--metrics-port``: 0 (any free port) to 65535, or None when not given."""
    if text is None:
        return None
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise ConfigError(
            f"--metrics-port: {text!r} is not a port number from 0 to 65535 (0: any free "
            "port); give e.g. 9464"
        )
    return int(text)


__all__ = ["PUSH_EVERY_S", "MetricsHub", "parse_metrics_port", "parse_pushgateway"]
