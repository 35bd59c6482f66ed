"""Retry policies: the schedule, the outcomes of a status, Retry-After and the presets."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.webhooks import PRESETS, RetryPolicy, parse_retry_after
from harness.webhooks.retry_policy import DISABLED, EXHAUSTED, RETRY, SUCCESS

delays_st = st.lists(st.floats(min_value=0, max_value=1e6), max_size=12).map(tuple)
scales_st = st.floats(min_value=1e-6, max_value=1e3)


def test_only_2xx_is_a_success_and_3xx_is_a_failure() -> None:
    policy = RetryPolicy(delays=(1, 2))
    assert policy.outcome(attempt=1, status=200) == SUCCESS
    assert policy.outcome(attempt=1, status=299) == SUCCESS
    for status in (301, 302, 307, 308, 400, 404, 429, 500, 503, None):
        assert policy.outcome(attempt=1, status=status) == RETRY
    assert policy.outcome(attempt=3, status=500) == EXHAUSTED


def test_410_disables_unless_the_policy_says_otherwise() -> None:
    assert RetryPolicy(delays=(1,)).outcome(attempt=1, status=410) == DISABLED
    kept = RetryPolicy(delays=(1,), disable_on_410=False)
    assert kept.outcome(attempt=1, status=410) == RETRY


def test_retry_after_is_a_lower_bound_on_the_delay_and_scaled_with_it() -> None:
    policy = RetryPolicy(delays=(5, 300)).scaled(0.01)
    assert policy.next_delay(attempt=1, retry_after=None) == pytest.approx(0.05)
    assert policy.next_delay(attempt=1, retry_after=60) == pytest.approx(0.6)
    assert policy.next_delay(attempt=2, retry_after=1) == pytest.approx(3.0)
    assert policy.next_delay(attempt=3, retry_after=60) is None
    ignoring = RetryPolicy(delays=(5,), honour_retry_after=False)
    assert ignoring.next_delay(attempt=1, retry_after=60) == 5


def test_retry_after_parses_seconds_and_http_dates() -> None:
    now = 1_700_000_000.0
    assert parse_retry_after("120", now=now) == 120
    date = format_datetime(datetime.fromtimestamp(now + 30, tz=UTC), usegmt=True)
    assert parse_retry_after(date, now=now) == pytest.approx(30)
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after(None, now=now) is None


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"delays": (-1,)}, "delays\\[0\\]"),
        ({"delays": (math.inf,)}, "delays\\[0\\]"),
        ({"delays": (), "total_timeout": 0}, "total_timeout"),
        ({"delays": (), "connect_timeout": 5, "total_timeout": 1}, "exceeds total_timeout"),
    ],
)
def test_a_bad_policy_is_refused_with_the_field_named(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        RetryPolicy(**kwargs)


def test_the_presets_follow_what_the_providers_publish() -> None:
    standard = PRESETS["standard-webhooks"]
    assert standard.delays[:4] == (5, 300, 1800, 7200)
    assert PRESETS["stripe"].span == pytest.approx(3 * 86400, rel=1e-3)
    shopify = PRESETS["shopify"]
    assert (len(shopify.delays), shopify.total_timeout, shopify.connect_timeout) == (8, 5, 1)
    assert shopify.span == pytest.approx(4 * 3600, rel=1e-3)
    assert PRESETS["github"].max_attempts == 1
    for policy in PRESETS.values():
        assert list(policy.delays) == sorted(policy.delays), "a backoff never shrinks"


@given(delays=delays_st, a=scales_st, b=scales_st)
def test_scaling_composes_and_keeps_the_timeouts(delays, a, b) -> None:
    policy = RetryPolicy(delays=delays, connect_timeout=1, total_timeout=2)
    twice = policy.scaled(a).scaled(b)
    once = policy.scaled(a * b)
    assert twice.delays == pytest.approx(once.delays)
    assert twice.time_scale == pytest.approx(a * b)
    assert (twice.connect_timeout, twice.total_timeout) == (1, 2)
    assert twice.span == pytest.approx(policy.span * a * b)


@given(delays=delays_st, statuses=st.lists(st.integers(100, 599) | st.none(), min_size=30))
def test_a_delivery_never_makes_more_attempts_than_the_policy_allows(delays, statuses) -> None:
    policy = RetryPolicy(delays=delays)
    attempts = 0
    for status in statuses:
        attempts += 1
        verdict = policy.outcome(attempt=attempts, status=status)
        if verdict != RETRY:
            break
        assert policy.next_delay(attempt=attempts, retry_after=None) is not None
    assert attempts <= policy.max_attempts


@given(value=st.text(max_size=40))
def test_parse_retry_after_never_raises(value) -> None:
    parsed = parse_retry_after(value, now=0.0)
    assert parsed is None or parsed >= 0
