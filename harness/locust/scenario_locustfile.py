"""The locustfile ``run_locust_storm`` starts: each user sends its share of a scenario's storm.

It reads the plan named by ``$HARNESS_LOCUST_PLAN``. Users are numbered across workers
(``worker_index * users_per_worker + n``) and user ``i`` sends share ``i`` of the storm, dealt
by key, at the storm's intended times, so the union over all users is exactly the storm.
"""

from __future__ import annotations

import os
from functools import cache

from harness.load import Storm, build_storm
from harness.locust.plan import Plan, StormPlan, user_share
from harness.locust.runner import PLAN_ENV, LocustPlan
from harness.locust.users import KafkaUser, RabbitMQUser
from harness.scenario import StormSpec

PLAN = LocustPlan.read(os.environ[PLAN_ENV])


@cache
def _storm() -> Storm:
    windows = [(start, end, fraction) for start, end, fraction in PLAN.duplicate_windows]
    return build_storm(StormSpec.model_validate(PLAN.storm), PLAN.seed, PLAN.run_prefix, windows)


def _plan_of(user: KafkaUser | RabbitMQUser, number: int) -> Plan:
    worker = max(0, getattr(user.environment.runner, "worker_index", 0))
    index = worker * (PLAN.users // PLAN.workers) + number
    return StormPlan(user_share(_storm(), PLAN.users, index), PLAN.storm_start)


class ScenarioKafkaUser(KafkaUser):
    abstract = PLAN.kind != "kafka"
    bootstrap = PLAN.bootstrap
    topic = PLAN.destination
    acks = PLAN.producer["acks"]
    enable_idempotence = PLAN.producer["enable_idempotence"]
    linger_ms = PLAN.producer["linger_ms"]
    request_timeout_ms = PLAN.producer["request_timeout_ms"]
    delivery_timeout_ms = PLAN.producer["delivery_timeout_ms"]
    flush_timeout_s = PLAN.tail_s

    def make_plan(self, number: int) -> Plan:
        return _plan_of(self, number)


class ScenarioRabbitMQUser(RabbitMQUser):
    abstract = PLAN.kind != "rabbitmq"
    url = PLAN.amqp_url
    queue = PLAN.destination
    confirms = PLAN.producer["confirms"]
    persistent = PLAN.producer["persistent"]
    durable = PLAN.durable
    flush_timeout_s = PLAN.tail_s

    def make_plan(self, number: int) -> Plan:
        return _plan_of(self, number)
