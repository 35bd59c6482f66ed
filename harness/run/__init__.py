"""Running scenarios: the storm, the fault timeline and the consumers against the stack, then
the verdict (checks, thresholds, expectations) and the run's artifacts.

    from harness.run import run_scenario, resolve_seed
    record = await run_scenario(scenario, Path("reports/x"), resolve_seed(scenario, None))

``run_bench`` steps one scenario through rates (``harness bench``); ``make_run`` writes a
synthetic run folder without a broker (``harness report --demo``). ``harness run`` itself, with
its suite handling, is CLI glue in ``harness.run.commands``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.run.artifacts import SUMMARY_FORMAT, junit, summary, write_summary
    from harness.run.bench import Knee, parse_rates, run_bench
    from harness.run.runner import (
        RunRecord,
        RunStatus,
        check_stack_is_safe,
        resolve_seed,
        run_scenario,
    )
    from harness.run.synthetic import Synthetic, make_run

# Imported on first use, so a storm shard process (``python -m harness.run.storm_shard``)
# does not pay seconds of start-up for the report and bench modules it never uses.
_HOMES = {
    "SUMMARY_FORMAT": "artifacts",
    "junit": "artifacts",
    "summary": "artifacts",
    "write_summary": "artifacts",
    "Knee": "bench",
    "parse_rates": "bench",
    "run_bench": "bench",
    "RunRecord": "runner",
    "RunStatus": "runner",
    "check_stack_is_safe": "runner",
    "resolve_seed": "runner",
    "run_scenario": "runner",
    "Synthetic": "synthetic",
    "make_run": "synthetic",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'harness.run' has no attribute {name!r}")
    return getattr(importlib.import_module(f"harness.run.{home}"), name)


__all__ = [
    "SUMMARY_FORMAT",
    "Knee",
    "RunRecord",
    "RunStatus",
    "Synthetic",
    "check_stack_is_safe",
    "junit",
    "make_run",
    "parse_rates",
    "resolve_seed",
    "run_bench",
    "run_scenario",
    "summary",
    "write_summary",
]
