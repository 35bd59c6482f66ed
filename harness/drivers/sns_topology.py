"""The AWS side of an SNS or EventBridge run on the emulator: clients, topology, clean-up.

``aws_client`` makes a boto3 client for the stack's moto endpoint (loopback-checked by
``harness.safety``, dummy credentials, no botocore retries: the harness records every attempt
itself). ``FanoutTopology`` creates, for one run, the topic (SNS) or event bus (EventBridge),
one SQS queue inside moto per subscriber, and each subscriber's subscription with its filter
policy or its rule with its event pattern and the queue as target; ``delete`` removes them.
Every call here blocks: callers run it on a thread (``asyncio.to_thread``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from harness.safety import check_target

REGION = "us-east-1"
DUMMY_KEY = "harness"  # moto accepts any credentials; these are not secrets
MAX_POOL = 32


def aws_client(service: str, endpoint: str, *, timeout_s: float = 5.0, pool: int = 10) -> Any:
    """A boto3 ``service`` client of the emulator at ``endpoint`` (refused off loopback)."""
    import boto3
    from botocore.config import Config

    check_target(urlsplit(endpoint).hostname or "")
    config = Config(
        connect_timeout=timeout_s,
        read_timeout=timeout_s,
        retries={"max_attempts": 1, "mode": "standard"},
        max_pool_connections=min(MAX_POOL, max(1, pool)),
    )
    return boto3.session.Session().client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=DUMMY_KEY,
        aws_secret_access_key=DUMMY_KEY,
        config=config,
    )


@dataclass(frozen=True)
class SubscriberPlan:
    """One subscriber: its queue's name and how it is reached (policy or pattern)."""

    name: str
    queue: str
    filter_policy: dict[str, Any] | None = None
    pattern: dict[str, Any] | None = None
    subscribe: bool = True


@dataclass
class FanoutTopology:
    """One run's topic or bus, subscriber queues and subscriptions or rules on moto."""

    kind: str  # "sns" or "eventbridge"
    endpoint: str
    name: str  # the topic or bus (run-suffixed)
    subscribers: tuple[SubscriberPlan, ...]
    event_source: str = "harness.storm"
    topic_arn: str = ""
    queue_urls: dict[str, str] = field(default_factory=dict)
    subscription_arns: dict[str, str] = field(default_factory=dict)
    rules: list[str] = field(default_factory=list)

    def create(self) -> None:
        """Create everything; idempotent for what exists (moto's create calls are)."""
        sqs = aws_client("sqs", self.endpoint)
        for sub in self.subscribers:
            url = sqs.create_queue(QueueName=sub.queue)["QueueUrl"]
            self.queue_urls[sub.name] = url
        if self.kind == "sns":
            self._create_sns(sqs)
        else:
            self._create_eventbridge(sqs)

    def _queue_arn(self, sqs: Any, name: str) -> str:
        attrs = sqs.get_queue_attributes(
            QueueUrl=self.queue_urls[name], AttributeNames=["QueueArn"]
        )
        return str(attrs["Attributes"]["QueueArn"])

    def _create_sns(self, sqs: Any) -> None:
        sns = aws_client("sns", self.endpoint)
        self.topic_arn = sns.create_topic(Name=self.name)["TopicArn"]
        for sub in self.subscribers:
            if not sub.subscribe:
                continue
            attrs = {"RawMessageDelivery": "true"}
            if sub.filter_policy is not None:
                attrs["FilterPolicy"] = json.dumps(sub.filter_policy)
            reply = sns.subscribe(
                TopicArn=self.topic_arn, Protocol="sqs", Endpoint=self._queue_arn(sqs, sub.name),
                Attributes=attrs, ReturnSubscriptionArn=True,
            )  # fmt: skip
            self.subscription_arns[sub.name] = reply["SubscriptionArn"]

    def _create_eventbridge(self, sqs: Any) -> None:
        events = aws_client("events", self.endpoint)
        events.create_event_bus(Name=self.name)
        for sub in self.subscribers:
            if not sub.subscribe:
                continue
            rule = f"{self.name}-{sub.name}"[:64]
            pattern = {"source": [self.event_source], **(sub.pattern or {})}
            events.put_rule(Name=rule, EventBusName=self.name, EventPattern=json.dumps(pattern))
            events.put_targets(
                Rule=rule, EventBusName=self.name,
                Targets=[{"Id": sub.name, "Arn": self._queue_arn(sqs, sub.name)}],
            )  # fmt: skip
            self.rules.append(rule)

    def unsubscribe(self, name: str) -> None:
        """Remove subscriber ``name``'s subscription (SNS) or rule (EventBridge)."""
        if self.kind == "sns" and name in self.subscription_arns:
            aws_client("sns", self.endpoint).unsubscribe(
                SubscriptionArn=self.subscription_arns.pop(name)
            )
        rule = f"{self.name}-{name}"[:64]
        if self.kind == "eventbridge" and rule in self.rules:
            events = aws_client("events", self.endpoint)
            events.remove_targets(Rule=rule, EventBusName=self.name, Ids=[name])
            events.delete_rule(Name=rule, EventBusName=self.name)
            self.rules.remove(rule)

    def delete(self) -> None:
        """Delete the topic or bus, its rules and the subscriber queues (best effort)."""
        errors: list[BaseException] = []
        for name in list(self.subscription_arns) + [r for r in self.rules]:
            try:
                self.unsubscribe(name if name in self.subscription_arns else
                                 name.removeprefix(f"{self.name}-"))  # fmt: skip
            except Exception as error:
                errors.append(error)
        try:
            if self.kind == "sns" and self.topic_arn:
                aws_client("sns", self.endpoint).delete_topic(TopicArn=self.topic_arn)
            elif self.kind == "eventbridge":
                aws_client("events", self.endpoint).delete_event_bus(Name=self.name)
        except Exception as error:
            errors.append(error)
        sqs = aws_client("sqs", self.endpoint)
        for url in self.queue_urls.values():
            try:
                sqs.delete_queue(QueueUrl=url)
            except Exception as error:
                errors.append(error)
        if errors:
            raise errors[0]


__all__ = ["REGION", "FanoutTopology", "SubscriberPlan", "aws_client"]
