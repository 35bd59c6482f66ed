"""Running scenarios: the storm, the fault timeline and the consumers against the stack, then
the verdict (checks, thresholds, expectations) and the run's artifacts.

    from harness.run import run_scenario, resolve_seed
    record = await run_scenario(scenario, Path("reports/x"), resolve_seed(scenario, None))

``run_bench`` steps one scenario through rates (``harness bench``); ``make_run`` writes a
synthetic run folder without a broker (``harness report --demo``). ``harness run`` itself, with
its suite handling, is CLI glue in ``harness.run.commands``.
"""

from harness.run.artifacts import SUMMARY_FORMAT, junit, summary, write_summary
from harness.run.bench import Knee, parse_rates, run_bench
from harness.run.runner import RunRecord, RunStatus, check_stack_is_safe, resolve_seed, run_scenario
from harness.run.synthetic import Synthetic, make_run

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
