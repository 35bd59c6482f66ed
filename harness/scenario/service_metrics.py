"""``service_metrics:``: the service's own Prometheus endpoint, scraped during the run.

    service_metrics:
      url: http://127.0.0.1:9464/metrics   # loopback, or a host in HARNESS_ALLOW_HOSTS
      every: 1s                            # scrape interval (0.2s to 60s)
      series:                              # what the report charts beside the harness's own
        - consumer_lag                     # a metric name (every label set of it)
        - 'errors_total{kind="timeout"}'   # or a name with exact label matches

A counter (``_total``) is charted as its rate per second, anything else as its value.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from harness.errors import UnsafeTargetError
from harness.safety import check_target
from harness.scenario.base import StrictModel
from harness.scenario.durations import Duration

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_MATCHER = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"'
SELECTOR = re.compile(rf"(?P<name>{_NAME})(?:\{{(?P<labels>{_MATCHER}(?:,{_MATCHER})*)?\}})?")
_LABEL = re.compile(r'(?P<key>[a-zA-Z_][a-zA-Z0-9_]*)="(?P<value>(?:[^"\\]|\\.)*)"')


def parse_selector(text: str) -> tuple[str, dict[str, str]]:
    """``'errors_total{kind="timeout"}'`` -> ``("errors_total", {"kind": "timeout"})``."""
    match = SELECTOR.fullmatch(text.strip())
    if match is None:
        raise ValueError(
            f"{text[:80]!r} is not a metric name with optional exact label matches, such as "
            "consumer_lag or 'errors_total{kind=\"timeout\"}'"
        )
    labels = {
        m["key"]: m["value"].replace('\\"', '"') for m in _LABEL.finditer(match["labels"] or "")
    }
    return match["name"], labels


class ServiceMetrics(StrictModel):
    """The service's Prometheus endpoint and the series to chart from it."""

    url: str = Field(min_length=1, max_length=2000)
    every: Duration = Field(default=1.0, ge=0.2, le=60.0)
    series: list[str] = Field(min_length=1, max_length=8)

    @field_validator("url")
    @classmethod
    def _loopback_http_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"{url[:80]!r} must be an http:// URL with a host, such as "
                "http://127.0.0.1:9464/metrics"
            )
        try:
            parts.port  # noqa: B018 - raises on a port that is not a number
        except ValueError:
            raise ValueError(
                f"{url[:80]!r} has a port that is not a number from 1 to 65535"
            ) from None
        try:
            check_target(parts.hostname)
        except UnsafeTargetError as error:
            raise ValueError(str(error)) from None
        return url

    @field_validator("series")
    @classmethod
    def _selectors(cls, series: list[str]) -> list[str]:
        for text in series:
            parse_selector(text)
        if len(set(series)) != len(series):
            raise ValueError("lists a series twice; name each once")
        return series


__all__ = ["SELECTOR", "ServiceMetrics", "parse_selector"]
