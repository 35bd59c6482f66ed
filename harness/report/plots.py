"""The report's charts, drawn with matplotlib's Agg backend from per-window series.

Every chart takes already aggregated frames (a few hundred rows; see ``harness.report.series``),
shades each fault window with its label (``F1 latency kafka-2``), and is saved as PNG. A fault
band is an ``axvspan`` whose ``gid`` is ``fault-<label>``, so tests can find it.

    figure = throughput_chart(view.throughput, bands(view.faults))
    png = to_png(figure)                              # bytes, figure closed
"""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import ParamSpec

import matplotlib

matplotlib.use("Agg")  # no display on CI machines; must precede pyplot

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

WIDTH, HEIGHT, DPI = 10.5, 3.4, 110
COLORS = {
    "sent": "#1f77b4",
    "acked": "#2ca02c",
    "received": "#ff7f0e",
    "p50": "#2ca02c",
    "p99": "#d62728",
    "p99.9": "#7f2b8f",
    "corrected": "#d62728",
    "uncorrected": "#1f77b4",
    "publish": "#7f7f7f",
    "lag": "#8c564b",
}
P = ParamSpec("P")
FAULT_COLORS = ("#f4a261", "#e76f51", "#9b5de5", "#2a9d8f", "#e9c46a")
STYLE = {
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e5e5e5",
    "grid.linewidth": 0.6,
    "axes.titleweight": "bold",
    "axes.titlesize": 10,
    "legend.frameon": False,
    "legend.fontsize": 8,
}


def _styled(draw: Callable[P, Figure]) -> Callable[P, Figure]:
    """Draw under the report's style without touching matplotlib's global settings."""

    @functools.wraps(draw)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Figure:
        with plt.rc_context(STYLE):
            return draw(*args, **kwargs)

    return wrapper


@dataclass(frozen=True)
class Band:
    """A fault window to shade: label ``F1``, what it was, seconds since the storm began."""

    label: str
    text: str
    start: float
    end: float


def bands(faults: pd.DataFrame) -> list[Band]:
    """Fault bands from a faults frame with ``kind``, ``target``, ``start``, ``end`` columns."""
    out = []
    for index, row in enumerate(faults.itertuples(index=False), start=1):
        end = float(row.end) if not pd.isna(row.end) else math.inf
        text = f"{row.kind} {row.target}" if row.target else str(row.kind)
        out.append(Band(f"F{index}", text, float(row.start), end))
    return out


@_styled
def throughput_chart(frame: pd.DataFrame, faults: Sequence[Band]) -> Figure:
    """Sent, acknowledged and received events per second over time."""
    figure, ax = _figure("Throughput (events/s)")
    for column in ("sent", "acked", "received"):
        ax.plot(frame["t"], frame[column], label=column, color=COLORS[column], lw=1.3)
    ax.set_ylim(bottom=0)
    _finish(ax, faults, "events/s")
    return figure


@_styled
def latency_chart(windows: Mapping[str, pd.DataFrame], faults: Sequence[Band]) -> Figure:
    """p50, p99 and p99.9 per window; corrected (from intended time) solid, uncorrected dashed."""
    figure, ax = _figure("End-to-end latency over time (ms, log scale)")
    styles = {"corrected": "-", "uncorrected": "--"}
    for measure, style in styles.items():
        frame = windows.get(measure)
        if frame is None or frame.empty:
            continue
        for q in ("p50", "p99", "p99.9"):
            label = f"{q} {measure}"
            ax.plot(frame["t"], frame[f"{q}_ms"], style, color=COLORS[q], lw=1.2, label=label)
    _log_y(ax)
    _finish(ax, faults, "ms")
    return figure


@_styled
def quantile_chart(curves: Mapping[str, pd.DataFrame], title: str | None = None) -> Figure:
    """Latency by quantile on a "nines" axis (50%, 90%, 99%, 99.9%, 99.99%), log latency."""
    figure, ax = _figure(title or "Latency by quantile (ms)")
    for index, (label, curve) in enumerate(curves.items()):
        if curve.empty:
            continue
        color = COLORS.get(label, FAULT_COLORS[index % len(FAULT_COLORS)])
        ax.plot(curve["x"], curve["ms"], color=color, lw=1.5, label=label)
    ticks = [0.0, math.log10(2), 1.0, 2.0, 3.0, 4.0]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(_nines_label))
    ax.set_xlim(0, 4)
    ax.set_xlabel("quantile")
    _log_y(ax)
    ax.set_ylabel("ms")
    if ax.get_lines():
        ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=3)
    figure.tight_layout()
    return figure


@_styled
def lag_chart(frame: pd.DataFrame, faults: Sequence[Band]) -> Figure:
    """Events acknowledged but not yet received, at the end of each window."""
    figure, ax = _figure("Consumer lag (events acknowledged, not yet received)")
    ax.fill_between(frame["t"], frame["lag"], step="post", color=COLORS["lag"], alpha=0.35)
    ax.step(frame["t"], frame["lag"], where="post", color=COLORS["lag"], lw=1.2, label="lag")
    ax.set_ylim(bottom=0)
    _finish(ax, faults, "events")
    return figure


@_styled
def status_chart(frame: pd.DataFrame, window: float, faults: Sequence[Band]) -> Figure:
    """Webhook deliveries per second by the status answered (stacked bars per window)."""
    figure, ax = _figure("Webhook deliveries by status answered (per second)")
    table = frame.pivot_table(
        index="t", columns="status", values="deliveries", aggfunc="sum", fill_value=0
    )
    bottom = np.zeros(len(table))
    for index, status in enumerate(table.columns):
        rate = table[status].to_numpy() / window
        color = (
            "#2ca02c" if str(status).startswith("2") else FAULT_COLORS[index % len(FAULT_COLORS)]
        )
        ax.bar(table.index, rate, width=window, bottom=bottom, align="edge", color=color,
               label=str(status))  # fmt: skip
        bottom += rate
    ax.set_ylim(bottom=0)
    _finish(ax, faults, "deliveries/s")
    return figure


@_styled
def overlay_chart(
    windows: Mapping[str, pd.DataFrame], column: str, title: str, faults: Sequence[Band] = ()
) -> Figure:
    """One column of several runs' per-window frames on one chart (for ``harness compare``)."""
    figure, ax = _figure(title)
    for index, (label, frame) in enumerate(windows.items()):
        if frame.empty:
            continue
        color = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")[index % 4]
        ax.plot(frame["t"], frame[column], color=color, lw=1.3, label=label)
    if column.endswith("_ms"):
        _log_y(ax)
    _finish(ax, faults, "ms" if column.endswith("_ms") else "events/s")
    return figure


@_styled
def service_chart(
    own: pd.DataFrame, lag: pd.DataFrame, service: pd.DataFrame, faults: Sequence[Band]
) -> Figure:
    """The service's chosen series (below) under the harness's own view of the same run
    (received per second and consumer lag, above), fault windows shaded on both."""
    figure = plt.figure(figsize=(WIDTH, HEIGHT * 1.8))
    top, bottom = figure.subplots(2, 1, sharex=True)
    top.set_title("The harness's view (above) and the service's own metrics (below)", loc="left")
    top.plot(own["t"], own["received"], label="received/s", color=COLORS["received"], lw=1.2)
    top.step(lag["t"], lag["lag"], where="post", label="lag (events)", color=COLORS["lag"], lw=1.2)
    top.set_ylim(bottom=0)
    for line, group in service.groupby("line", sort=True):
        bottom.plot(group["t"], group["value"], lw=1.2, label=str(line))
    for ax, unit in ((top, "events"), (bottom, "service")):
        _finish(ax, faults, unit)
    top.set_xlabel("")
    return figure


@_styled
def knee_chart(aggregated: pd.DataFrame, knee_rate: float | None) -> Figure:
    """End-to-end latency quantiles (corrected) against achieved throughput, knee marked."""
    figure, ax = _figure("Latency versus throughput (corrected, ms)")
    x = aggregated["received_per_s"] if len(aggregated) else []
    for q in ("p50", "p99", "p99.9"):
        if len(aggregated):
            ax.plot(x, aggregated[f"{q}_ms"], "o-", color=COLORS[q], lw=1.4, ms=4, label=q)
    if knee_rate is not None and len(aggregated):
        at = aggregated[aggregated["rate"] == knee_rate]
        ax.axvline(float(at["received_per_s"].iloc[0]), color="#444444", ls="--", lw=1, gid="knee")
        ax.annotate(
            f"knee: {knee_rate:g}/s offered",
            (float(at["received_per_s"].iloc[0]), 1.0),
            xycoords=("data", "axes fraction"),
            va="top",
            ha="right",
            fontsize=8,
        )
    _log_y(ax)
    ax.set_xlabel("achieved throughput (received events/s)")
    ax.set_ylabel("ms")
    ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=3)
    figure.tight_layout()
    return figure


def to_png(figure: Figure) -> bytes:
    """The figure as PNG bytes; the figure is closed."""
    buffer = io.BytesIO()
    try:
        # zlib level 3, not 6: about 25% less time in the encoder for files ~15% larger
        figure.savefig(buffer, format="png", dpi=DPI, pil_kwargs={"compress_level": 3})
    finally:
        plt.close(figure)
    return buffer.getvalue()


def _figure(title: str) -> tuple[Figure, Axes]:
    figure = plt.figure(figsize=(WIDTH, HEIGHT))
    ax = figure.add_subplot()
    ax.set_title(title, loc="left")
    return figure, ax


def _finish(ax: Axes, faults: Sequence[Band], unit: str) -> None:
    _shade(ax, faults)
    ax.set_xlabel("seconds since the storm began")
    ax.set_ylabel(unit)
    ax.set_xlim(left=0)
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        columns = len(handles) if len(handles) <= 3 else (len(handles) + 1) // 2
        ax.legend(handles, labels, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=columns)
    ax.figure.tight_layout()


def _shade(ax: Axes, faults: Sequence[Band]) -> None:
    right = ax.get_xlim()[1]
    for index, band in enumerate(faults):
        end = band.end if math.isfinite(band.end) else right
        color = FAULT_COLORS[index % len(FAULT_COLORS)]
        ax.axvspan(band.start, end, color=color, alpha=0.18, lw=0, gid=f"fault-{band.label}")
        ax.text(
            band.start,
            1.0 - 0.08 * (index % 3),  # adjacent faults' labels on staggered rows
            f" {band.label} {band.text}",
            transform=ax.get_xaxis_transform(),
            va="top",
            ha="left",
            fontsize=8,
            color="#444444",
            clip_on=True,
        )


def _log_y(ax: Axes) -> None:
    if any(line.get_ydata().size for line in ax.get_lines()):
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())


def _nines_label(x: float, _: object) -> str:
    q = 100.0 * (1.0 - 10.0**-x)
    return f"{q:.{max(0, round(x) - 2)}f}%" if x >= 2 else f"{q:.0f}%"


__all__ = [
    "Band",
    "bands",
    "knee_chart",
    "lag_chart",
    "latency_chart",
    "overlay_chart",
    "quantile_chart",
    "throughput_chart",
    "to_png",
]
