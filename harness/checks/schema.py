"""Schema checks, applied when a run's schema plan (``schema-plan.parquet``) is known.

- ``schema_rejected``: an event the reader must read (an undrifted event of a version the
  reader's version is compatible with) was dead-lettered.

A drifted event, or one of a version the reader cannot read, may be dead-lettered or
processed: neither is an anomaly, so such ids are left out of ``dlq_unexpected`` too.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from harness.checks.facts import IdFacts
from harness.checks.frame import Prepared
from harness.checks.model import Finding

NAMES = ("schema_rejected",)


def plan_flags(history: Prepared, plan: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """``(must, may)`` over id codes: ids the reader must read, and the plan's other ids."""
    codes = pc.index_in(plan["id"], value_set=history.id_names).to_numpy(zero_copy_only=False)
    must_read = plan["must_read"].to_numpy(zero_copy_only=False).astype(bool)
    known = ~np.isnan(codes) if codes.dtype.kind == "f" else np.ones(len(codes), bool)
    codes = np.nan_to_num(codes, nan=0).astype(np.int64) if codes.dtype.kind == "f" else codes
    must = np.zeros(history.n_ids, bool)
    may = np.zeros(history.n_ids, bool)
    must[codes[known & must_read]] = True
    may[codes[known & ~must_read]] = True
    return must, may


def schema_rejected(facts: IdFacts, must: np.ndarray, limit: int) -> Finding:
    return Finding.from_flags("schema_rejected", facts.dead & must & ~facts.poison, limit)


__all__ = ["NAMES", "plan_flags", "schema_rejected"]
