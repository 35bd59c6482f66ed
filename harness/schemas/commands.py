"""``harness schemas``: sample a schema's generated events, and check versions' compatibility.

    harness schemas sample schemas/orders-v1.json --count 3 --seed 7
    harness schemas sample schemas/orders.asyncapi.yaml --message OrderPlaced
    harness schemas check schemas/orders-v1.avsc schemas/orders-v2.avsc schemas/orders-v3.avsc

``check`` compares each adjacent pair (v1 -> v2, v2 -> v3) and prints one verdict per line;
exit code 0 when every pair is at least BACKWARD, 1 when one is FORWARD or NONE (a rolling
upgrade that cannot read old events), 2 for a malformed schema.
"""

from __future__ import annotations

import argparse
import base64
import json
from pathlib import Path
from typing import Any

from harness.schemas.compatibility import Verdict, compatibility
from harness.schemas.documents import load_schema
from harness.schemas.encode import encoder
from harness.schemas.generate import ValueGenerator

MAX_SAMPLES = 1000


def register(subparsers: argparse._SubParsersAction) -> None:
    schemas = subparsers.add_parser(
        "schemas",
        help="sample and compare versioned event schemas",
        description="Sample the events a schema generates, or check the compatibility of "
        "schema versions (BACKWARD, FORWARD, FULL or NONE, with the reason).",
    )
    actions = schemas.add_subparsers(dest="schemas_command", required=True, metavar="ACTION")
    sample = actions.add_parser("sample", help="print generated events, one JSON per line")
    sample.add_argument("path", type=Path, metavar="SCHEMA")
    sample.add_argument("--message", help="the AsyncAPI message to use")
    sample.add_argument("--count", type=int, default=3, help=f"1..{MAX_SAMPLES} (default 3)")
    sample.add_argument("--seed", type=int, default=1)
    sample.add_argument("--confluent-id", type=int, help="Avro: frame with this schema id")
    sample.set_defaults(func=_sample)
    check = actions.add_parser("check", help="verdicts of each adjacent pair of versions")
    check.add_argument("paths", nargs="+", type=Path, metavar="SCHEMA")
    check.set_defaults(func=_check)


def _sample(args: argparse.Namespace) -> int:
    if not 1 <= args.count <= MAX_SAMPLES:
        print(f"harness schemas sample: --count is 1..{MAX_SAMPLES}, not {args.count}")
        return 2
    document = load_schema(args.path, message=args.message)
    generate = ValueGenerator(document, args.seed)
    encode = encoder(document, args.confluent_id)
    for index in range(args.count):
        value = generate.value(index)
        body = encode(value)
        line: dict[str, Any] = {"value": value, "bytes": len(body)}
        if document.kind == "avro":
            line["wire_base64"] = base64.b64encode(body).decode()
        print(json.dumps(line, default=str, ensure_ascii=False))
    if document.channel:
        print(f"# channel: {document.channel}")
    return 0


def _check(args: argparse.Namespace) -> int:
    if len(args.paths) < 2:
        print("harness schemas check: give at least two versions, oldest first")
        return 2
    documents = [load_schema(p) for p in args.paths]
    worst = 0
    for old, new in zip(documents, documents[1:], strict=False):
        result = compatibility(old, new)
        print(result)
        if result.verdict not in (Verdict.FULL, Verdict.BACKWARD):
            worst = 1
    return worst


__all__ = ["register"]
