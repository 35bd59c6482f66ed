"""One run's Prometheus metrics, aggregated from the history writer's flushed batches.

The hot path (a driver appending an op) is not touched: ``RunMetrics.observe`` is called by
the history writer's flush thread with the batches it has just made durable, about once a
second, and counts them with Arrow and NumPy kernels (no Python per event). ``collect`` is
what a ``/metrics`` scrape or a Pushgateway push reads.

What each metric counts, from the history's rows (``docs/metrics.md``):

* ``send`` rows are sends with a known outcome: ``status`` ok (acknowledged), fail, unknown;
* ``recv`` rows are deliveries (a redelivery counts again);
* end-to-end latency is a delivery's ``t`` minus its send's ``t_intended`` (coordinated
  omission corrected, as the checks report it), for each id's first delivery; a send row and
  its delivery may be flushed in either order, so both sides wait for each other in small
  Arrow tables that one hash join per flush matches;
* schedule slip is a send's ``t`` minus its ``t_intended``;
* lost so far: acknowledged sends not delivered within ``lost_after`` seconds of their ack.
  It falls again if a late delivery arrives, so it is a gauge, not a ``_total`` counter.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from harness import clock
from harness.metrics.histogram import BatchHistogram

LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                     10.0, 30.0, 60.0)  # fmt: skip
SLIP_BUCKETS_S = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                  1.0, 5.0)  # fmt: skip
LOST_AFTER_S = 15.0
"""An acknowledged event undelivered this long after its ack counts as lost so far (the
drain's own stall limit, ``harness.run.runner.DRAIN_STALLED_S``)."""
UNMATCHED_RECV_S = 120.0
"""A delivery whose send row never came (an unknown-outcome send, an unexpected id) is
forgotten after this long, so the waiting table stays small."""

ActiveFaults = Callable[[], Iterable[tuple[str, str]]]
"""Returns ``(kind, target)`` of every fault active now."""

_COUNTERS = (
    ("events_sent", "Sends whose outcome is known (acknowledged, failed or unknown)."),
    ("events_acknowledged", "Sends the broker acknowledged."),
    ("events_failed", "Sends that certainly failed (status fail)."),
    ("events_unknown", "Sends whose outcome is unknown (maybe written)."),
    ("events_received", "Deliveries to the consumer (redeliveries included)."),
    ("events_dead_lettered", "Events seen dead-lettered."),
)
_USED = ("op", "id", "t", "t_intended", "t_ack", "status", "kind", "target")
_PENDING = pa.schema([("id", pa.string()), ("t_intended", pa.float64()), ("t_ack", pa.float64())])
_RECEIVED = pa.schema([("id", pa.string()), ("t", pa.float64())])


class RunMetrics(Collector):
    """The metrics of one scenario's run, labelled ``scenario`` and ``target``; thread-safe.

    metrics = RunMetrics("kafka-latency-spike", "kafka")
    registry.register(metrics)
    HistoryWriter(path, on_flush=metrics.observe)
    """

    def __init__(
        self,
        scenario: str,
        target: str,
        *,
        active_faults: ActiveFaults = lambda: (),
        lost_after: float = LOST_AFTER_S,
        now: Callable[[], float] = clock.now,
    ) -> None:
        self.labels = (scenario, target)
        self.active_faults = active_faults
        self.lost_after = lost_after
        self._now = now
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._fault_windows: Counter[tuple[str, str]] = Counter()
        self.latency = BatchHistogram(LATENCY_BUCKETS_S)
        self.slip = BatchHistogram(SLIP_BUCKETS_S)
        self._pending = _PENDING.empty_table()
        self._received = _RECEIVED.empty_table()

    def observe(self, batches: Sequence[pa.RecordBatch]) -> None:
        """Count the history rows of ``batches`` (any columns of the history schema)."""
        if not batches:
            return
        table = pa.Table.from_batches(batches)
        if not table.num_rows or "op" not in table.column_names:
            return
        table = table.select([c for c in _USED if c in table.column_names])  # filter less
        op = table.column("op")
        sends = _rows(table, op, "send", ("id", "t", "t_intended", "t_ack", "status"))
        recvs = _rows(table, op, "recv", ("id", "t"))
        faults = _rows(table, op, "fault", ("kind", "target"))
        status = sends.column("status")
        counts = {
            "events_sent": sends.num_rows,
            "events_acknowledged": _count(pc.equal(status, "ok")),
            "events_failed": _count(pc.equal(status, "fail")),
            "events_received": recvs.num_rows,
            "events_dead_lettered": _count(pc.equal(op, "dead_letter")),
        }
        counts["events_unknown"] = (
            sends.num_rows - counts["events_acknowledged"] - counts["events_failed"]
        )
        slip = _seconds(pc.subtract(sends.column("t"), sends.column("t_intended")))
        acked = sends.filter(pc.fill_null(pc.equal(status, "ok"), False))
        with self._lock:
            self._counts.update(counts)
            self._fault_windows.update(
                zip(
                    faults.column("kind").to_pylist(),
                    faults.column("target").to_pylist(),
                    strict=True,
                )  # fmt: skip
            )
            self.slip.add(slip)
            self._match(acked.select(_PENDING.names).cast(_PENDING), recvs.cast(_RECEIVED))

    def _match(self, acked: pa.Table, recvs: pa.Table) -> None:
        """Pair acknowledged sends with first deliveries; observe the pairs' latency."""
        pending = pa.concat_tables([self._pending, acked])
        received = pa.concat_tables([self._received, recvs])
        ids = received.column("id")
        if received.num_rows and pc.count_distinct(ids).as_py() < received.num_rows:
            # a redelivery: the first delivery's time counts
            first = received.group_by("id").aggregate([("t", "min")])
            received = pa.table({"id": first.column("id"), "t": first.column("t_min")})
        if pending.num_rows and received.num_rows:
            delivered = pc.is_in(pending.column("id"), value_set=received.column("id"))
            matched, pending = pending.filter(delivered), pending.filter(pc.invert(delivered))
            paired = pc.is_in(received.column("id"), value_set=matched.column("id"))
            firsts, received = received.filter(paired), received.filter(pc.invert(paired))
            # only the matched rows; on this thread, not contending for the cores with the storm
            pairs = matched.join(firsts, "id", join_type="inner", use_threads=False)
            self.latency.add(_seconds(pc.subtract(pairs.column("t"), pairs.column("t_intended"))))
        if received.num_rows:
            horizon = self._now() - UNMATCHED_RECV_S
            received = received.filter(pc.greater_equal(received.column("t"), horizon))
        self._pending = pending.select(_PENDING.names).combine_chunks()
        self._received = received.select(_RECEIVED.names).combine_chunks()

    def counts(self) -> dict[str, int]:
        """The counters now, by name without prefix or suffix (``events_sent``, ...)."""
        with self._lock:
            return {name: self._counts[name] for name, _ in _COUNTERS}

    def lost_so_far(self) -> int:
        """Acknowledged sends not delivered within ``lost_after`` seconds of their ack."""
        with self._lock:
            t_ack = self._pending.column("t_ack")
            return _count(pc.less(t_ack, self._now() - self.lost_after))

    def collect(self) -> Iterator[Metric]:
        names = ["scenario", "target"]
        lost = self.lost_so_far()
        with self._lock:
            for name, doc in _COUNTERS:
                family = CounterMetricFamily(f"harness_{name}", doc, labels=names)
                family.add_metric(self.labels, self._counts[name])
                yield family
            latency = HistogramMetricFamily(
                "harness_end_to_end_latency_seconds",
                "Delivery time minus intended send time (coordinated-omission corrected), "
                "first delivery of each acknowledged event.",
                labels=names,
            )
            self.latency.into(latency, self.labels)
            slip = HistogramMetricFamily(
                "harness_schedule_slip_seconds",
                "Send time minus intended send time: how late the load generator was.",
                labels=names,
            )
            self.slip.into(slip, self.labels)
            windows = CounterMetricFamily(
                "harness_fault_windows",
                "Fault windows ended (healed), by fault kind and target.",
                labels=["scenario", "kind", "target"],
            )
            for (kind, target), count in sorted(self._fault_windows.items()):
                windows.add_metric([self.labels[0], kind or "", target or ""], count)
        gauge = GaugeMetricFamily(
            "harness_events_lost",
            f"Acknowledged events not delivered within {self.lost_after:g}s of their ack "
            "(lost so far; falls again when a late delivery arrives).",
            labels=names,
        )
        gauge.add_metric(self.labels, lost)
        yield from (latency, slip, windows, gauge, self._active())

    def _active(self) -> GaugeMetricFamily:
        family = GaugeMetricFamily(
            "harness_faults_active",
            "Faults active now, by fault kind and target.",
            labels=["scenario", "kind", "target"],
        )
        try:
            active = Counter(self.active_faults())
        except RuntimeError:  # the timeline's table changed while read: next scrape
            active = Counter()
        for (kind, target), count in sorted(active.items()):
            family.add_metric([self.labels[0], kind, target], count)
        return family


def _rows(table: pa.Table, op: pa.ChunkedArray, name: str, columns: Sequence[str]) -> pa.Table:
    """The rows of op ``name``, with ``columns`` (a column ``table`` lacks comes as nulls)."""
    mask = pc.fill_null(pc.equal(op, name), False)
    chosen = table.filter(mask)
    arrays = []
    for column in columns:
        if column in chosen.column_names:
            arrays.append(chosen.column(column))
        else:
            kind = pa.string() if column in ("id", "status", "kind", "target") else pa.float64()
            arrays.append(pa.nulls(chosen.num_rows, kind))
    return pa.Table.from_arrays(arrays, names=list(columns))


def _count(mask: pa.ChunkedArray | pa.Array) -> int:
    return int(pc.sum(pc.fill_null(mask, False).cast(pa.int64())).as_py() or 0)


def _seconds(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(values, float("nan")).to_numpy(zero_copy_only=False),
                      dtype=np.float64)  # fmt: skip


__all__ = ["LOST_AFTER_S", "ActiveFaults", "RunMetrics"]
