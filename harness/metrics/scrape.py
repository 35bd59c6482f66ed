"""Scraping the service's own ``/metrics`` during a run (``service_metrics:`` of a scenario).

``ServiceScraper`` fetches the endpoint every ``every`` seconds with aiohttp, keeps the
samples of the chosen series (a name, or a name with exact label matches) and, when stopped,
writes them to ``service-metrics.parquet`` in the run folder: one row per sample with the
run-clock time ``t``, the ``series`` as asked, the sample's labels as text (``labels``), its
metric ``type`` (counter, gauge, ...) and ``value``. The report charts them beside the
harness's own series. These are readings of the service, not ops of the run, so they sit
beside the history rather than in it.

The URL's host was checked when the scenario was validated; here it is pinned to the checked
address, so the address connected to is the one allowed.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import pyarrow as pa
import pyarrow.parquet as pq
from prometheus_client.parser import text_string_to_metric_families

from harness import clock
from harness.safety import pin_address, redact_url
from harness.scenario.service_metrics import ServiceMetrics, parse_selector

FILE_NAME = "service-metrics.parquet"
SCHEMA = pa.schema(
    [
        ("t", pa.float64()),
        ("series", pa.string()),
        ("labels", pa.string()),
        ("type", pa.string()),
        ("value", pa.float64()),
    ]
)
TIMEOUT_S = 2.0


@dataclass
class Scrapes:
    """What the scraper did: the rows kept and how the scrapes went."""

    rows: list[dict[str, object]] = field(default_factory=list)
    ok: int = 0
    failed: int = 0
    last_error: str = ""


def select(text: str, selectors: list[str], t: float) -> list[dict[str, object]]:
    """The samples of ``text`` (Prometheus text format) that ``selectors`` choose, as rows.

    A selector's name matches a sample's name or its family's (``errors`` chooses the samples
    of counter ``errors_total``); histogram and summary parts (``_bucket``, ...) only by name.
    """
    wanted = [(s, *parse_selector(s)) for s in selectors]
    rows = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            for series, name, labels in wanted:
                if name not in (sample.name, family.name):
                    continue
                if family.type in ("histogram", "summary") and sample.name != name:
                    continue
                if any(sample.labels.get(k) != v for k, v in labels.items()):
                    continue
                shown = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
                rows.append({"t": t, "series": series, "labels": shown,
                             "type": family.type, "value": float(sample.value)})  # fmt: skip
    return rows


class ServiceScraper:
    """Scrapes one service endpoint until stopped; ``stop()`` writes the file."""

    def __init__(self, spec: ServiceMetrics, out_dir: Path) -> None:
        self.spec = spec
        self.path = Path(out_dir) / FILE_NAME
        self.scrapes = Scrapes()
        self._task: asyncio.Task[None] | None = None
        parts = urlsplit(spec.url)
        self._host = parts.hostname or ""
        address = pin_address(self._host)
        host = f"[{address}]" if ":" in address else address
        netloc = host if parts.port is None else f"{host}:{parts.port}"
        self._url = urlunsplit(parts._replace(netloc=netloc))

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="service-metrics")

    async def _loop(self) -> None:
        timeout = aiohttp.ClientTimeout(total=min(TIMEOUT_S, self.spec.every))
        headers = {"Host": urlsplit(self.spec.url).netloc.rpartition("@")[2]}
        async with aiohttp.ClientSession(timeout=timeout, headers=headers) as session:
            due = clock.now()
            while True:
                await self._scrape(session)
                due += self.spec.every
                await asyncio.sleep(max(0.0, due - clock.now()))

    async def _scrape(self, session: aiohttp.ClientSession) -> None:
        t = clock.now()
        try:
            async with session.get(self._url) as response:
                if response.status != 200:
                    raise aiohttp.ClientError(f"HTTP {response.status}")
                text = await response.text()
            self.scrapes.rows += select(text, self.spec.series, t)
            self.scrapes.ok += 1
        except (aiohttp.ClientError, TimeoutError, ValueError, UnicodeDecodeError) as error:
            self.scrapes.failed += 1
            self.scrapes.last_error = f"{type(error).__name__}: {error}"

    async def stop(self) -> list[str]:
        """Stop scraping and write the file; the problems to report (none scraped)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        table = pa.Table.from_pylist(self.scrapes.rows, schema=SCHEMA)
        pq.write_table(table, self.path)
        if self.scrapes.ok == 0 and self.scrapes.failed:
            return [
                f"service_metrics: no scrape of {redact_url(self.spec.url)} succeeded "
                f"({self.scrapes.failed} tried, last: {self.scrapes.last_error}); is the "
                "service serving its metrics there?"
            ]
        return []


__all__ = ["FILE_NAME", "SCHEMA", "Scrapes", "ServiceScraper", "select"]
