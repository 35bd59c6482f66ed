"""Benchmark: rendering the report of a 10M-event run, as a ratio to checking the same history.

Both steps read the same Parquet history (10M events, about 30M ops, plus one fault window),
each in a fresh interpreter so neither profits from the other's caches or imports:

- check: ``harness.checks.check_file(history)``, what ``harness check`` does;
- report: ``harness.report.render_run(run_dir)`` with the run's ``summary.json`` already
  written (as after ``harness run``): read the history, aggregate per window, draw the four
  charts, write report.html, the PNGs and summary.md.

Targets (issue 15): report time / check time below 1 at 10M events, and the report of a
100k-event run under 2 s (``--events 100000``; its check is printed beside it).

    .venv/bin/python benchmarks/bench_report.py [--events 10000000]

The history comes from ``bench_check_parquet.generate`` (cached under /tmp); a copy with one
fault row appended is cached beside it, so the report draws a fault band and an impact row.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))

from bench_check_parquet import generate

from harness.history import SCHEMA

RATE = 2000.0  # bench_check_parquet's events per second


def with_fault(source: Path, target: Path, events: int) -> Path:
    """``source`` plus one latency fault over the middle tenth of the storm (cached)."""
    if target.exists():
        return target
    storm = events / RATE
    fault = {name: [None] for name in SCHEMA.names}
    fault.update(
        op=["fault"],
        id=["f0"],
        kind=["latency"],
        target=["kafka-2"],
        t=[storm * 0.45],
        t_start=[storm * 0.45],
        t_end=[storm * 0.55],
    )
    reader = pq.ParquetFile(source)
    tmp = target.with_suffix(".tmp")
    with pq.ParquetWriter(tmp, SCHEMA) as writer:
        for index in range(reader.num_row_groups):
            writer.write_table(reader.read_row_group(index).cast(SCHEMA))
        writer.write_table(pa.table(fault, schema=SCHEMA))
    tmp.rename(target)
    return target


def prepare_run(history: Path, run_dir: Path) -> Path:
    """A run folder holding the history (linked) and its summary.json (written once)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    link = run_dir / "history.parquet"
    if not link.exists():
        link.symlink_to(history)
    if not (run_dir / "summary.json").exists():
        subprocess.run([sys.executable, "-c", _SUMMARY, str(run_dir)], check=True)
    return run_dir


_SUMMARY = """
import json, sys
from pathlib import Path
from harness.checks.frame import prepare_file
from harness.report.view import summary_from_history
run = Path(sys.argv[1])
data = summary_from_history(prepare_file(run / "history.parquet"))
(run / "summary.json").write_text(json.dumps(data))
"""

_STEP = """
import json, resource, sys, time
from pathlib import Path
start = time.perf_counter()
run = Path(sys.argv[2])
if sys.argv[1] == "check":
    from harness.checks import check_file
    check_file(run / "history.parquet")
else:
    from harness.report import render_run
    render_run(run, step_summary=False)
usage = resource.getrusage(resource.RUSAGE_SELF)
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0]  # not inherited
out = {"seconds": time.perf_counter() - start, "cpu_seconds": usage.ru_utime + usage.ru_stime,
       "peak_rss_bytes": int(hwm.split()[1]) * 1024}
print(json.dumps(out))
"""


def measure(step: str, run_dir: Path) -> dict[str, float]:
    """Run one step in a fresh interpreter (imports included in its time); its JSON line."""
    done = subprocess.run(
        [sys.executable, "-c", _STEP, step, str(run_dir)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/harness-bench"))
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    base = generate(args.cache / f"history-{args.events}.parquet", args.events)
    history = with_fault(base, args.cache / f"history-fault-{args.events}.parquet", args.events)
    run_dir = prepare_run(history, args.cache / f"report-run-{args.events}")
    checked = measure("check", run_dir)
    reported = measure("report", run_dir)
    ratio = reported["seconds"] / checked["seconds"]
    size = (run_dir / "report.html").stat().st_size
    print(f"history: {history} ({args.events:,} events)")
    print(
        f"harness check:  {checked['seconds']:.2f} s ({checked['cpu_seconds']:.2f} s CPU), peak RSS "
        f"{checked['peak_rss_bytes'] / 2**30:.2f} GiB"
    )
    print(
        f"render_run:     {reported['seconds']:.2f} s ({reported['cpu_seconds']:.2f} s CPU), peak RSS "
        f"{reported['peak_rss_bytes'] / 2**30:.2f} GiB, report.html {size / 1024:.0f} KiB"
    )
    if args.events <= 100_000:
        print(f"report under 2 s: {'yes' if reported['seconds'] < 2 else 'NO'} (target)")
        return 0 if reported["seconds"] < 2 else 1
    print(f"ratio report/check: {ratio:.2f} (target < 1)")
    return 0 if ratio < 1 else 1


if __name__ == "__main__":
    sys.exit(main())
