"""A webhook provider's retry policy as data, and presets taken from what providers publish.

A delivery is one first attempt plus up to ``len(delays)`` retries; ``delays[i]`` is the wait
(seconds) after the failure of attempt ``i + 1`` before attempt ``i + 2``. Only a 2xx answer is
a success: a 3xx is a failure (providers do not follow redirects), as are timeouts, resets and
every other status. A 410 disables the endpoint when ``disable_on_410``; a ``Retry-After`` on a
failure pushes the next attempt back when ``honour_retry_after``.

    policy = PRESETS["standard-webhooks"].scaled(0.001)   # days of schedule in seconds
    policy.next_delay(attempt=1, retry_after=None)        # 0.005

``scaled`` compresses the schedule (and any ``Retry-After``) for tests; timeouts stay in real
time, since they measure the endpoint, not the schedule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from email.utils import parsedate_to_datetime

SUCCESS = "success"
RETRY = "retry"
EXHAUSTED = "exhausted"
DISABLED = "disabled"


@dataclass(frozen=True)
class RetryPolicy:
    """When to retry a failed delivery, and how long one attempt may take.

    ``delays``: the wait before each retry, seconds (empty: no retry). ``connect_timeout``:
    seconds to open the connection. ``total_timeout``: seconds for the whole attempt (connect,
    send, headers and body). ``time_scale``: the factor ``scaled`` applied so far; it also
    scales ``Retry-After``.
    """

    delays: tuple[float, ...]
    connect_timeout: float = 10.0
    total_timeout: float = 30.0
    honour_retry_after: bool = True
    disable_on_410: bool = True
    time_scale: float = 1.0
    # A Retry-After larger than this (seconds, before scaling) is capped, so one answer cannot
    # park a delivery for a day.
    max_retry_after: float = 86400.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "delays", tuple(float(d) for d in self.delays))
        for i, delay in enumerate(self.delays):
            if not math.isfinite(delay) or delay < 0:
                raise ValueError(f"retry delays[{i}] is {delay!r}: it must be a finite number >= 0")
        for name in ("connect_timeout", "total_timeout", "time_scale", "max_retry_after"):
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"retry policy {name} is {value!r}: it must be a number > 0")
        if self.connect_timeout > self.total_timeout:
            raise ValueError(
                f"retry policy connect_timeout ({self.connect_timeout}) exceeds total_timeout "
                f"({self.total_timeout}): the connection is part of the attempt"
            )

    @property
    def max_attempts(self) -> int:
        """The first attempt plus every retry."""
        return len(self.delays) + 1

    @property
    def span(self) -> float:
        """The schedule's length: the sum of the delays (without time spent in attempts)."""
        return sum(self.delays)

    def scaled(self, time_scale: float) -> RetryPolicy:
        """This policy with every delay multiplied by ``time_scale`` (timeouts unchanged)."""
        if not math.isfinite(time_scale) or time_scale <= 0:
            raise ValueError(f"time_scale is {time_scale!r}: it must be a number > 0")
        return replace(
            self,
            delays=tuple(d * time_scale for d in self.delays),
            time_scale=self.time_scale * time_scale,
        )

    def outcome(self, *, attempt: int, status: int | None) -> str:
        """What follows attempt number ``attempt`` (1-based) that got ``status`` (None: no
        answer, such as a timeout or a reset): ``SUCCESS``, ``RETRY``, ``EXHAUSTED`` or
        ``DISABLED``."""
        if status is not None and 200 <= status < 300:
            return SUCCESS
        if status == 410 and self.disable_on_410:
            return DISABLED
        return RETRY if attempt < self.max_attempts else EXHAUSTED

    def next_delay(self, *, attempt: int, retry_after: float | None) -> float | None:
        """Seconds to wait after failed attempt ``attempt`` (1-based), or None when none is left.

        ``retry_after`` is the answer's ``Retry-After`` in seconds (unscaled); honoured, it is
        a lower bound on the scheduled delay.
        """
        if attempt < 1:
            raise ValueError(f"attempt is {attempt}: attempts count from 1")
        if attempt > len(self.delays):
            return None
        delay = self.delays[attempt - 1]
        if self.honour_retry_after and retry_after is not None and retry_after > 0:
            delay = max(delay, min(retry_after, self.max_retry_after) * self.time_scale)
        return delay


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """A ``Retry-After`` header in seconds from ``now``: delta-seconds or an HTTP date.

    None when absent or unreadable (an unreadable header is ignored, as browsers do).
    """
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


def _doubling(first: float, count: int, total: float | None = None) -> tuple[float, ...]:
    """``count`` delays doubling from ``first``; if ``total`` is given, scaled to sum to it."""
    delays = [first * 2**i for i in range(count)]
    if total is not None:
        factor = total / sum(delays)
        delays = [round(d * factor, 1) for d in delays]
    return tuple(delays)


PRESETS: dict[str, RetryPolicy] = {
    # Standard Webhooks spec (standard-webhooks/standard-webhooks, spec/standard-webhooks.md,
    # "Deliverability and reliability"): the example schedule "immediately, 5 seconds,
    # 5 minutes, 30 minutes, 2 hours, 5 hours, 10 hours, 14 hours, 20 hours, 24 hours" (the
    # first row is the first attempt); "Request timeouts": "somewhere between 15 and 30s"
    # (we take 30). 3xx is a failure, 410 disables, Retry-After "should be taken into
    # consideration". The connect timeout is not given; 10 s is ours.
    "standard-webhooks": RetryPolicy(
        delays=(5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400),
        connect_timeout=10.0,
        total_timeout=30.0,
    ),
    # Stripe docs, "Receive Stripe events in your webhook endpoint" (docs.stripe.com/webhooks,
    # retry behaviour): in live mode Stripe "attempts to deliver a given event to your webhook
    # endpoint for up to 3 days with an exponential back off". Stripe does not publish the
    # intervals: ours double from 1 minute and are scaled to sum to exactly 3 days (12
    # retries). The timeouts are not published either; 10 s / 30 s are ours.
    "stripe": RetryPolicy(
        delays=_doubling(60.0, 12, total=3 * 86400.0),
        connect_timeout=10.0,
        total_timeout=30.0,
    ),
    # Shopify developer changelog, "Updates to webhook retry mechanism" (2024-09-10):
    # "retried a total of 8 times over 4 hours using an exponential backoff schedule"; Shopify's
    # HTTPS delivery docs: 1 s to connect, 5 s in total. The intervals are not published: ours
    # double and are scaled to sum to 4 hours.
    "shopify": RetryPolicy(
        delays=_doubling(60.0, 8, total=4 * 3600.0),
        connect_timeout=1.0,
        total_timeout=5.0,
    ),
    # GitHub docs, "Handling failed webhook deliveries": "GitHub does not automatically
    # redeliver failed deliveries", and a delivery fails if the server "takes longer than 10
    # seconds to respond". The connect timeout is not given; it is bounded by the 10 s.
    "github": RetryPolicy(
        delays=(),
        connect_timeout=10.0,
        total_timeout=10.0,
        disable_on_410=False,
    ),
}
