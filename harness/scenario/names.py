"""What a name in a scenario may be: the brokers' rules and the file system's, checked at load.

A name the broker would refuse fails at run time, after the stack is set up; a scenario name
too long for a folder crashes a suite. Each rule returns the reason a name breaks it, or None.

    >>> kafka_topic_problem("orders.v1"), kafka_topic_problem("a b") is not None
    (None, True)
"""

from __future__ import annotations

import re

NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]*$"
MAX_NAME = 100
KAFKA_TOPIC_PATTERN = re.compile(r"[a-zA-Z0-9._-]+")
MAX_KAFKA_TOPIC = 249
MAX_AMQP_NAME = 255
# The harness declares "<queue>.dlx" and "<queue>.dlq" beside a dead-lettered queue.
AMQP_SUFFIX = len(".dlq")


def scenario_name_problem(name: str) -> str | None:
    """A scenario's name names its report folder: a short lowercase slug."""
    if not re.fullmatch(NAME_PATTERN, name):
        return (
            f"{name[:60]!r} is not a usable name: use lowercase letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (it names the report folder)"
        )
    if len(name) > MAX_NAME:
        return (
            f"the name is {len(name)} characters long; at most {MAX_NAME} (it names the report "
            "folder, inside a suite's folder)"
        )
    return None


def kafka_topic_problem(topic: str) -> str | None:
    """Kafka's own rule: 1 to 249 of ``a-z A-Z 0-9 . _ -``, and not ``.`` or ``..``."""
    if len(topic) > MAX_KAFKA_TOPIC:
        return f"a Kafka topic name has at most {MAX_KAFKA_TOPIC} characters (got {len(topic)})"
    if not KAFKA_TOPIC_PATTERN.fullmatch(topic):
        return (
            f"{topic[:60]!r} is not a Kafka topic name: use only letters, digits, '.', '_' and '-'"
        )
    if topic in (".", ".."):
        return f"{topic!r} is not a Kafka topic name: Kafka reserves '.' and '..'"
    return None


def amqp_name_problem(name: str, reserve: int = 0) -> str | None:
    """AMQP 0-9-1 names are short strings (at most 255 bytes of UTF-8); ``amq.`` is reserved."""
    size = len(name.encode("utf-8", "surrogatepass"))
    limit = MAX_AMQP_NAME - reserve
    if size > limit:
        extra = " (room is kept for the '.dlq' and '.dlx' the harness adds)" if reserve else ""
        return f"an AMQP name has at most {limit} bytes of UTF-8{extra}; got {size}"
    if name.startswith("amq."):
        return f"{name[:60]!r} starts with 'amq.', which RabbitMQ reserves for its own names"
    return None


__all__ = [
    "AMQP_SUFFIX",
    "MAX_AMQP_NAME",
    "MAX_KAFKA_TOPIC",
    "MAX_NAME",
    "NAME_PATTERN",
    "amqp_name_problem",
    "kafka_topic_problem",
    "scenario_name_problem",
]
