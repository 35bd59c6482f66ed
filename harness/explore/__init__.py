"""``harness explore``: search fault schedules inside a scenario's ``explore:`` envelope with
Hypothesis, and shrink a failure to its smallest schedule.

    from harness.explore import Search, schedules, to_scenario, write_results

    result = Search(scenario, runner, budget_s=600, repeat=2, seed=7).run()
    write_results(result, Path("reports/explore"))   # minimal.yaml, explore.html, summary

The flow: ``schedule`` draws schedules (each fault kind its own settings) and turns one into
a plain scenario; ``search`` runs Hypothesis over them with a runner function (the live one
runs ``harness run``'s code on the stack); ``results`` writes what was found.
"""

from harness.explore.results import minimal_yaml, summary, write_results
from harness.explore.schedule import (
    TICK_S,
    PlannedFault,
    Schedule,
    StormChoice,
    schedules,
    settings_strategy,
    to_scenario,
)
from harness.explore.search import Attempt, Runner, RunResult, Search, SearchError, SearchResult

__all__ = [
    "TICK_S",
    "Attempt",
    "PlannedFault",
    "RunResult",
    "Runner",
    "Schedule",
    "Search",
    "SearchError",
    "SearchResult",
    "StormChoice",
    "minimal_yaml",
    "schedules",
    "settings_strategy",
    "summary",
    "to_scenario",
    "write_results",
]
