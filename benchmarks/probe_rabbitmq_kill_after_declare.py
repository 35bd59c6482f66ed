"""Durability probe (not a speed benchmark): does RabbitMQ keep a durable queue, and its one
confirmed persistent message, when it is SIGKILLed right after the declare?

Each round declares a fresh durable queue, publishes one persistent message with publisher
confirms, SIGKILLs the broker, restarts it and looks for the message. Rounds alternate between
killing at once and first flushing Mnesia's log (``rabbitmq.flush_metadata``), so both arms see
the same machine load. ``--burn N`` adds N busy-looping processes, as on a loaded CI machine.

Prints the rounds that lost the queue in each arm and the ratio between them. Needs the stack
up (``harness stack up``); takes about 6 s a round.

    .venv/bin/python benchmarks/probe_rabbitmq_kill_after_declare.py --rounds 40 --burn 3
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
import uuid

import pika
import pika.exceptions

from harness.stack import Stack, rabbitmq


def _burn(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def _round(stack: Stack, flush: bool) -> bool:
    """One declare-publish-kill-restart round; True when the message survived."""
    queue = f"probe-{uuid.uuid4().hex[:8]}"
    node = stack.nodes["rabbitmq"]
    conn = pika.BlockingConnection(pika.URLParameters(stack.rabbitmq_url))
    channel = conn.channel()
    channel.confirm_delivery()
    channel.queue_declare(queue, durable=True)
    channel.basic_publish("", queue, b"kept", pika.BasicProperties(delivery_mode=2))
    if flush:
        rabbitmq.flush_metadata(node.state)
    node.kill()
    node.restart()
    again = pika.BlockingConnection(pika.URLParameters(stack.rabbitmq_url))
    try:
        _method, _props, body = again.channel().basic_get(queue, auto_ack=True)
        kept = body == b"kept"
    except pika.exceptions.ChannelClosedByBroker:  # 404: the queue itself is gone
        kept = False
    finally:
        if again.is_open:
            again.close()
    return kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=40, help="rounds per arm (default 40)")
    parser.add_argument("--burn", type=int, default=0, help="busy processes meanwhile")
    args = parser.parse_args()
    stack = Stack.load()
    burners = [
        multiprocessing.Process(target=_burn, args=(args.rounds * 15.0,), daemon=True)
        for _ in range(args.burn)
    ]
    for burner in burners:
        burner.start()
    lost = {False: 0, True: 0}
    try:
        for number in range(args.rounds):
            for flush in (False, True):
                if not _round(stack, flush):
                    lost[flush] += 1
            print(f"round {number + 1}/{args.rounds}: lost without flush {lost[False]}, "
                  f"with flush {lost[True]}", flush=True)  # fmt: skip
    finally:
        for burner in burners:
            burner.terminate()
    print(f"queues lost after a kill right after the declare: {lost[False]}/{args.rounds}")
    print(f"the same with mnesia:dump_log() before the kill:  {lost[True]}/{args.rounds}")
    ratio = lost[True] / lost[False] if lost[False] else float("nan")
    print(f"ratio with/without flush: {ratio:.2f}")


if __name__ == "__main__":
    main()
