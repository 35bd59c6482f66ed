"""``harness history export|import|merge|recover``: convert, combine and rescue histories."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.errors import HistoryError
from harness.history.jsonl import write_jsonl
from harness.history.merge import merge_histories
from harness.history.reader import read_history, recover_partial, write_parquet


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("history", help="convert, merge or recover run histories")
    commands = parser.add_subparsers(dest="history_command", metavar="ACTION")
    commands.required = True

    export = commands.add_parser("export", help="write a history as JSON Lines")
    export.add_argument("history", type=Path)
    export.add_argument("-o", "--output", type=Path, required=True, help="the .jsonl to write")
    export.set_defaults(func=_export)

    imported = commands.add_parser("import", help="convert JSON Lines (or any history) to Parquet")
    imported.add_argument("history", type=Path)
    imported.add_argument("-o", "--output", type=Path, required=True, help="the .parquet to write")
    imported.set_defaults(func=_import)

    merge = commands.add_parser("merge", help="merge shards from several workers into one")
    merge.add_argument("shards", type=Path, nargs="+")
    merge.add_argument("-o", "--output", type=Path, required=True)
    merge.add_argument(
        "--prefix-worker",
        action="store_true",
        help="rewrite ids as <worker>:<id> so shards whose ids collide can be merged",
    )
    merge.set_defaults(func=_merge)

    recover = commands.add_parser(
        "recover", help="turn a crashed run's .partial.arrows into Parquet"
    )
    recover.add_argument("partial", type=Path)
    recover.add_argument("-o", "--output", type=Path, default=None)
    recover.set_defaults(func=_recover)


def _export(args: argparse.Namespace) -> int:
    lines = write_jsonl(read_history(args.history), args.output)
    print(f"wrote {lines:,} ops to {args.output}")
    return 0


def _import(args: argparse.Namespace) -> int:
    if args.output.suffix.lower() != ".parquet":
        raise HistoryError(
            f"{args.output}: the output of import must end in .parquet; name it "
            f"{args.output.with_suffix('.parquet')}, or use `harness history export` for "
            "JSON Lines"
        )
    table = read_history(args.history)
    write_parquet(table, args.output)
    print(f"wrote {table.num_rows:,} ops to {args.output}")
    return 0


def _merge(args: argparse.Namespace) -> int:
    rows = merge_histories(args.shards, args.output, prefix_worker=args.prefix_worker)
    print(f"merged {len(args.shards)} shard(s), {rows:,} ops, into {args.output}")
    return 0


def _recover(args: argparse.Namespace) -> int:
    if not args.partial.exists():
        raise HistoryError(
            f"{args.partial} does not exist; give the .partial.arrows a crashed run left "
            "beside its history.parquet"
        )
    out = recover_partial(args.partial, args.output)
    print(f"recovered {read_history(out).num_rows:,} ops into {out}")
    return 0


__all__ = ["register"]
