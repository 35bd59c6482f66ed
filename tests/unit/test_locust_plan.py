"""Locust plans, librdkafka outcome mapping, and that the runner side never imports gevent."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from confluent_kafka import KafkaError

from harness.drivers import Outcome
from harness.load.storm import build_storm
from harness.locust.plan import RatePlan, StormPlan, user_share
from harness.locust.rdkafka import classify_rdkafka
from harness.scenario.models import StormSpec


def test_rate_plan_is_open_model_and_keys_are_the_users_own():
    plan = RatePlan("w.u3", rate=100.0, start=10.0, keys=3, size=80, limit=7)
    early = plan.due(10.025)
    late = plan.due(99.0)
    assert [e.intended for e in early] == [10.0, 10.01, 10.02]
    assert len(late) == 4 and plan.next_at() is None
    every = early + late
    assert len({e.id for e in every}) == 7
    assert {e.key for e in every} == {"w.u3-k0", "w.u3-k1", "w.u3-k2"}
    assert [e.seq for e in every if e.key == "w.u3-k0"] == [1, 2, 3]


def test_user_shares_of_a_storm_are_the_storm_exactly_once():
    spec = StormSpec(duration=2.0, rate={"per_second": 500}, keys={"count": 10})
    storm = build_storm(spec, seed=3, run_prefix="e3")
    shares = [user_share(storm, 4, i) for i in range(4)]
    ids = np.concatenate([s.id for s in shares])
    assert sorted(ids) == sorted(storm.id)
    assert all(not set(a.key) & set(b.key) for a in shares for b in shares if a is not b)


def test_storm_plan_releases_due_rows_at_their_intended_times():
    storm = build_storm(StormSpec(duration=1.0, rate={"per_second": 100}), 1, "e1")
    plan = StormPlan(storm, start=50.0)
    first = plan.due(50.5)
    assert first and all(e.intended <= 50.5 and e.sent == 50.5 for e in first)
    assert plan.next_at() > 50.5
    assert len(first) + len(plan.due(1e9, max_batch=10_000)) == len(storm)


def test_librdkafka_errors_map_through_the_harness_outcome_table():
    assert classify_rdkafka(KafkaError(KafkaError._MSG_TIMED_OUT)) is Outcome.UNKNOWN
    assert classify_rdkafka(KafkaError(KafkaError._PURGE_INFLIGHT)) is Outcome.UNKNOWN
    assert classify_rdkafka(KafkaError(KafkaError._PURGE_QUEUE)) is Outcome.FAIL
    assert classify_rdkafka(KafkaError(KafkaError.NOT_LEADER_FOR_PARTITION)) is Outcome.FAIL
    assert classify_rdkafka(KafkaError(KafkaError.REQUEST_TIMED_OUT)) is Outcome.UNKNOWN


def test_the_runner_side_never_imports_locust_or_gevent():
    code = (
        "import sys, harness.locust, harness.locust.runner, harness.locust.headless;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('locust', 'gevent')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
