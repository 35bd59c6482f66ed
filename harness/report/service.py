"""The service's own metrics (``service-metrics.parquet``) as series for the report.

Each chosen series becomes one line per label set: a counter as its rate per second (a fall,
a counter reset, is dropped), anything else as its value, on the report's time axis (seconds
since the storm began).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from harness.metrics.scrape import FILE_NAME


def service_series(run_dir: Path, origin: float) -> pd.DataFrame:
    """Columns ``t``, ``line`` (series and labels), ``value``, ``unit``; empty without a file."""
    path = Path(run_dir) / FILE_NAME
    if not path.exists():
        return pd.DataFrame(columns=["t", "line", "value", "unit"])
    frame = pq.read_table(path).to_pandas()
    parts = []
    for (series, labels, kind), group in frame.groupby(["series", "labels", "type"], sort=True):
        group = group.sort_values("t")
        line = f"{series} {{{labels}}}" if labels and "{" not in series else str(series)
        if kind == "counter":
            rate = group["value"].diff() / group["t"].diff()
            values, unit = rate.where(rate >= 0), "/s"
        else:
            values, unit = group["value"], ""
        parts.append(pd.DataFrame({"t": group["t"] - origin, "line": line + (f" ({unit})" if unit else ""),
                                   "value": values, "unit": unit}))  # fmt: skip
    if not parts:
        return pd.DataFrame(columns=["t", "line", "value", "unit"])
    return pd.concat(parts, ignore_index=True).dropna(subset=["value"])


__all__ = ["service_series"]
