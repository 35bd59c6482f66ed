"""Warm ``stack up`` (three Kafka brokers and RabbitMQ) against baselines measured in the same run.

Arms, alternated ``--rounds`` times in a scratch ``$HARNESS_HOME`` on ports shifted by
``--port-offset`` (the cached Kafka jars and Toxiproxy binary are linked from the real home):

- ``bare``: one Kafka broker as ``kafka-server-start`` runs it (the same JVM options, formatted
  by Kafka's ``StorageTool`` beforehand, not timed), from ``exec`` to an ApiVersions answer.
- ``sequential``: the same servers one after another (the Kafka cluster, whose three nodes
  must start together to elect a controller, then RabbitMQ once Kafka is ready), the storage
  formatted by Kafka's tool and no class-data sharing archive: a start with no overlap between
  servers and no caches.
- ``up``: ``harness.stack.local.up(3, with_rabbitmq=True)``, warm (format template and
  class-data sharing archive in place once the cold round has made them).

The cold figure is the first ``up`` in the fresh scratch home: no format template and no
archive (the first broker writes the archive in the background; the script waits for it before
the warm rounds). Each figure is wall seconds and the stack processes' CPU seconds until ready;
ratios are medians over the rounds. Target (issue 15): warm ``up`` < 8 s.

Run: `.venv/bin/python benchmarks/bench_stack_up.py [--rounds 3] [--port-offset 6500]`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.stack import kafka, layout, process
from harness.stack.state import StackState

HZ = os.sysconf("SC_CLK_TCK")
UP_TIMEOUT = 900.0  # a loaded shared machine: the figure, not a deadline, is the point


def cpu_seconds(pid: int | None) -> float:
    """utime + stime of ``pid`` and its waited-for children."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(f) for f in fields[11:15]) / HZ


def stack_cpu(state: StackState) -> float:
    return sum(cpu_seconds(n.pid) for n in state.all_processes())


def bare_broker(libs: Path, work: Path) -> tuple[float, float]:
    """(wall s, CPU s) of one broker from exec to its first ApiVersions answer."""
    shutil.rmtree(work, ignore_errors=True)
    node = kafka.prepare_node(1, 1, libs, work)
    kafka._run_storage_tool([node], libs, kafka.new_cluster_id())
    argv = [a for a in node.argv if "SharedArchiveFile" not in a]
    started = time.monotonic()
    with open(work / "bare.log", "wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    try:
        process.wait_until(lambda: process.kafka_ready(node.probe_port), 300, "the bare broker")
        return time.monotonic() - started, cpu_seconds(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def sequential_up() -> tuple[float, float]:
    """The Kafka cluster, then RabbitMQ once Kafka is ready; the storage formatted by Kafka's
    tool and no class-data sharing archive (the caches off)."""
    from harness.stack import local

    saved_format, saved_cds = kafka.format_storage, kafka.cds_options

    def format_by_tool(nodes: list, libs: Path, cluster_id: str) -> None:
        kafka._run_storage_tool(nodes, libs, cluster_id)

    kafka.format_storage = format_by_tool  # type: ignore[assignment]
    kafka.cds_options = lambda libs: ()  # type: ignore[assignment]
    try:
        return _timed_up(lambda: _sequential(local))
    finally:
        kafka.format_storage, kafka.cds_options = saved_format, saved_cds


def _sequential(local: object) -> StackState:
    """Servers one after another: each kind's nodes started and ready before the next kind."""
    from harness.stack import launch

    every = dict(launch.LAUNCHERS)
    state: StackState | None = None
    try:
        for kind in ("kafka", "rabbitmq"):
            launch.LAUNCHERS.clear()
            launch.LAUNCHERS[kind] = every[kind]
            if kind == "kafka":
                state = local.up(3, with_rabbitmq=False, timeout=UP_TIMEOUT)  # type: ignore[attr-defined]
            else:
                _add_rabbitmq(state)
    finally:
        launch.LAUNCHERS.clear()
        launch.LAUNCHERS.update(every)
    assert state is not None
    return state


def _add_rabbitmq(state: StackState | None) -> None:
    """Start RabbitMQ alone after Kafka (for the sequential arm: its own start and probe)."""
    from harness.stack import rabbitmq
    from harness.stack.handles import NodeHandle
    from harness.stack.provision import locate_rabbitmq

    assert state is not None
    node, epmd = rabbitmq.prepare(locate_rabbitmq(), layout.run_dir())
    extra = [node, epmd]
    for handle in (NodeHandle(epmd), NodeHandle(node)):
        handle.start()
        handle.wait_healthy(300)
    state.nodes[node.name] = node
    state.services[epmd.name] = epmd
    _SEQUENTIAL_EXTRA.extend(extra)


_SEQUENTIAL_EXTRA: list = []


def _timed_up(start: object) -> tuple[float, float]:
    began = time.monotonic()
    state = start()  # type: ignore[operator]
    return time.monotonic() - began, stack_cpu(state)


def parallel_up() -> tuple[float, float]:
    from harness.stack import local

    return _timed_up(lambda: local.up(3, with_rabbitmq=True, timeout=UP_TIMEOUT))


def down() -> None:
    from harness.stack import local
    from harness.stack.handles import NodeHandle

    local.down()
    for node in _SEQUENTIAL_EXTRA:
        NodeHandle(node).terminate()
    _SEQUENTIAL_EXTRA.clear()


def scratch_home(real: Path) -> Path:
    home = Path(tempfile.mkdtemp(prefix="bench-stack-up-"))
    for name in ("bin", f"kafka-{layout.KAFKA_VERSION}"):
        (home / name).symlink_to((real / name).resolve())
    return home


def wait_for_archive(libs: Path, timeout: float = 600.0) -> bool:
    pending = kafka.cds_archive(libs).with_suffix(".pending")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pending.exists() or kafka.cds_archive(libs).exists():
            return True
        time.sleep(1.0)
    return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--port-offset", type=int, default=6500)
    args = parser.parse_args()
    real = layout.harness_home()
    home = scratch_home(real)
    os.environ[layout.HOME_ENV] = str(home)
    os.environ[layout.PORT_OFFSET_ENV] = str(args.port_offset)
    libs = home / f"kafka-{layout.KAFKA_VERSION}" / "libs"
    results: dict[str, list[tuple[float, float]]] = {"bare": [], "sequential": [], "up": []}
    try:
        cold = parallel_up()
        print(f"cold up (no format template, no CDS archive): {cold[0]:.1f} s wall, "
              f"{cold[1]:.1f} s CPU; load {os.getloadavg()[0]:.1f}")  # fmt: skip
        # The archive is written by a child of the running first broker: keep the stack up.
        print("waiting for the class-data sharing archive (written once, in the background)")
        print(f"archive ready: {wait_for_archive(libs)}")
        down()
        for round_no in range(1, args.rounds + 1):
            results["bare"].append(bare_broker(libs, home / "bare"))
            results["sequential"].append(sequential_up())
            down()
            results["up"].append(parallel_up())
            down()
            row = "  ".join(f"{k} {v[-1][0]:.1f}s/{v[-1][1]:.1f}cpu" for k, v in results.items())
            print(f"round {round_no}: {row}  (load {os.getloadavg()[0]:.1f})")
    finally:
        down()
        shutil.rmtree(home, ignore_errors=True)
    wall = {k: statistics.median(w for w, _ in v) for k, v in results.items()}
    cpu = {k: statistics.median(c for _, c in v) for k, v in results.items()}
    for key in results:
        print(f"{key:11} median {wall[key]:6.1f} s wall  {cpu[key]:6.1f} s CPU")
    print(f"up / sequential: {wall['up'] / wall['sequential']:.2f} wall, "
          f"{cpu['up'] / cpu['sequential']:.2f} CPU")  # fmt: skip
    print(f"up / bare broker: {wall['up'] / wall['bare']:.2f} wall (3 brokers + RabbitMQ vs 1)")
    print(f"warm up < 8 s: {'yes' if wall['up'] < 8 else 'no'} ({wall['up']:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
