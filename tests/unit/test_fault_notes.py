"""A fault's own note (``reason``: a trigger that never fired) reaches the impact table of
both reports, so a crash that hit nothing is not mistaken for one the service survived."""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.checks import prepare
from harness.report import markdown
from harness.report.html import _fault_text
from harness.report.impact import impacts

NOTE = "not fired: after 50 effects since a commit, watched from t=2.0 for 10s (0 commits seen)"


def history(reason: str | None) -> pd.DataFrame:
    n = 100
    t = np.arange(n) / 10.0
    sends = pd.DataFrame(
        {
            "op": "send",
            "id": [f"e{i}" for i in range(n)],
            "key": "k",
            "seq": np.arange(1, n + 1),
            "t_intended": t,
            "t": t,
            "t_ack": t + 0.002,
            "status": "ok",
        }
    )
    recvs = sends[["id", "key", "seq"]].assign(op="recv", t=t + 0.01, group="g", consumer="c")
    fault = {
        "op": "fault",
        "id": "f0",
        "kind": "consumer_crash",
        "target": "consumer",
        "t_start": 4.0,
        "t_end": 4.0,
        "reason": reason,
    }
    return pd.concat([sends, recvs, pd.DataFrame([fault])], ignore_index=True)


def test_a_trigger_that_never_fired_is_shown_beside_its_fault() -> None:
    (impact,) = impacts(prepare(history(NOTE)), 0.0, 10.0, {})
    assert impact.note == NOTE
    assert _fault_text(impact) == f"consumer_crash on consumer ({NOTE})"
    assert NOTE in "\n".join(markdown._impacts([impact]))


def test_a_fault_without_note_reads_as_before() -> None:
    (impact,) = impacts(prepare(history(None)), 0.0, 10.0, {})
    assert impact.note is None
    assert _fault_text(impact) == "consumer_crash on consumer"
