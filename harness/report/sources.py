"""Who recorded what: the history's rows counted by their ``source`` and op.

A run that observes its service from outside holds rows from three recorders: the harness's own
drivers (``source`` null), the service's reports (``report``) and black-box sources
(``observe:<name>``). The report shows them apart, and says which reported rows the checks set
aside because an observed source watched the same op.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from harness.history import read_history

HARNESS = "harness"


def source_counts(history_path: Path) -> pd.DataFrame:
    """One row per (source, op) with its ``rows``; empty when no row names a source."""
    table = _op_and_source(history_path)
    if table.num_rows == 0 or table.column("source").null_count == table.num_rows:
        return pd.DataFrame({"source": [], "op": [], "rows": []})
    declared = pc.filter(table, pc.equal(table.column("op"), "observe"))
    observed_ops = set(declared.column("kind").to_pylist()) if declared.num_rows else set()
    table = pc.filter(table, pc.not_equal(table.column("op"), "observe"))
    source = pc.fill_null(table.column("source"), HARNESS)
    grouped = (
        pa.table({"source": source, "op": table.column("op")})
        .group_by(["source", "op"])
        .aggregate([([], "count_all")])
        .to_pandas()
        .rename(columns={"count_all": "rows"})
    )
    reported = grouped["source"].eq("report") & grouped["op"].isin(observed_ops)
    grouped["set_aside"] = reported
    return grouped.sort_values(["source", "op"], ignore_index=True)


def _op_and_source(path: Path) -> pa.Table:
    columns = ["op", "source", "kind"]
    if path.name.endswith(".parquet"):
        present = [c for c in columns if c in pq.read_schema(path).names]
        table = pq.read_table(path, columns=present)
    else:
        table = read_history(path)
    for name in columns:
        if name not in table.column_names:
            table = table.append_column(name, pa.nulls(table.num_rows, pa.string()))
    plain = {n: table.column(n) for n in columns}
    for name, column in plain.items():
        if pa.types.is_dictionary(column.type):
            plain[name] = column.cast(column.type.value_type)
    return pa.table(plain)


__all__ = ["source_counts"]
