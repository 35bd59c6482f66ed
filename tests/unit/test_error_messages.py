"""Bad input to the report, bench and Locust entry points: a ConfigError that shows the value
and says what to do instead."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from harness.errors import ConfigError
from harness.locust.plan import RatePlan
from harness.report import parse_tolerance
from harness.run import parse_rates


@pytest.mark.parametrize(
    ("call", "shown", "next_step"),
    [
        (lambda: parse_tolerance("20000%"), "'20000%'", "give a percentage"),
        (lambda: parse_tolerance("fast"), "'fast'", "give a percentage"),
        (lambda: parse_rates("1000,-5"), "'-5'", "give e.g."),
        (lambda: parse_rates("1000,lots"), "'lots'", "give e.g."),
        (lambda: RatePlan("u", rate=0.0, start=0.0), "0.0", "set the user's rate"),
        (lambda: RatePlan("u", rate=1.0, start=0.0, keys=0), "0", "set the user's keys"),
    ],
)
def test_bad_input_names_the_value_and_the_fix(
    call: Callable[[], Any], shown: str, next_step: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        call()
    message = str(caught.value)
    assert shown in message and next_step in message
