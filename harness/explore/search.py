"""The search: Hypothesis draws schedules, a runner function runs each, and a failure shrinks.

    result = Search(scenario, runner, budget_s=1800, max_examples=100, repeat=2,
                    seed=7, db=Path(".harness-explore-db")).run()

``runner(scenario, label)`` runs one concrete scenario once and returns a ``RunResult``; the
live one runs it on the stack (``harness.explore.commands``), tests pass a function of the
schedule. The property is the scenario's own: a run fails when one of its thresholds or
expectations fails (a harness error is recorded, never counted as a failure).

How the costly examples are handled (docs/decisions.md):

- Hypothesis settings: ``deadline=None``, ``max_examples`` from ``--examples``, every health
  check suppressed, the phases explicit/reuse/generate/target/shrink (no ``explain``, which
  would run more examples), one bug reported, the search seed fixed, the database a
  directory.
- Repeats: before the first failure an example runs once; the first failing one and every
  shrink candidate after it run ``repeat`` times, and count as failing when at least one run
  failed; the result says how many of its runs did.
- Memo: equal schedules (different choice sequences can draw the same one) run once; the
  memo also makes Hypothesis's final replay of the minimal example free and deterministic.
- Time: the budget is checked before every run. Once it is spent (or the search is
  interrupted), candidates are no longer run: before any failure the search stops at once;
  after one, unrun candidates count as passing, so the shrinker stops. Hypothesis's own
  shrink limit (``engine.MAX_SHRINKING_SECONDS``, 300 s) is raised to the budget for the
  duration of the search, since 300 s is ten examples here.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hypothesis
from hypothesis import HealthCheck, Phase, Verbosity, given
from hypothesis import settings as hypothesis_settings
from hypothesis.database import DirectoryBasedExampleDatabase
from hypothesis.internal.conjecture import engine as hypothesis_engine

from harness.explore.schedule import Schedule, schedules, to_scenario
from harness.scenario import Scenario

PHASES = (Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink)
MAX_CONSECUTIVE_ERRORS = 3


@dataclass
class RunResult:
    """One run of one example."""

    failed: bool
    reasons: list[str] = field(default_factory=list)
    """The thresholds and expectations that failed (``lost == 0 (measured 12)``)."""
    metrics: dict[str, float] = field(default_factory=dict)
    error: str = ""
    interrupted: bool = False
    seconds: float = 0.0
    out_dir: str = ""


Runner = Callable[[Scenario, str], RunResult]


@dataclass
class Attempt:
    """One example tried: its schedule and every run of it."""

    index: int
    schedule: Schedule
    phase: str
    runs: list[RunResult]
    started_s: float

    @property
    def failed(self) -> bool:
        return any(run.failed for run in self.runs)

    @property
    def failures(self) -> int:
        return sum(run.failed for run in self.runs)

    @property
    def errored(self) -> bool:
        return bool(self.runs) and all(run.error and not run.failed for run in self.runs)

    @property
    def outcome(self) -> str:
        if self.failed:
            return f"fail {self.failures}/{len(self.runs)}"
        if any(run.interrupted for run in self.runs):
            return "interrupted"
        return "error" if self.errored else "pass"

    @property
    def seconds(self) -> float:
        return sum(run.seconds for run in self.runs)


@dataclass
class SearchResult:
    """What the search found: every attempt in order, and the minimal failure if any."""

    scenario: Scenario
    seed: int
    attempts: list[Attempt]
    minimal: Attempt | None
    seconds: float
    stopped: str
    """Why the search ended: ``examples``, ``budget``, ``interrupted``, ``error``, ``done``."""
    error: str = ""
    not_run: int = 0
    """Candidates Hypothesis proposed after the budget was spent, counted as passing."""

    @property
    def first_failure(self) -> Attempt | None:
        return next((a for a in self.attempts if a.failed), None)

    @property
    def shrink_path(self) -> list[Attempt]:
        """First failure ... minimal: each failing attempt, in the order found, that was
        smaller (``Schedule.size``) than the step before it, ending with the minimal one."""
        path: list[Attempt] = []
        for attempt in self.attempts:
            if attempt is self.minimal:
                break
            if attempt.failed and (not path or attempt.schedule.size() < path[-1].schedule.size()):
                path.append(attempt)
        return path + ([self.minimal] if self.minimal is not None else [])

    @property
    def reproduced(self) -> str:
        """``always`` / ``sometimes`` / ``""``: how the minimal failure reproduced."""
        if self.minimal is None:
            return ""
        return "always" if self.minimal.failures == len(self.minimal.runs) else "sometimes"

    @property
    def exit_code(self) -> int:
        if self.minimal is not None:
            return 1
        if self.stopped == "error":
            return 2
        return 130 if self.stopped == "interrupted" else 0

    def concrete(self, attempt: Attempt) -> Scenario:
        return to_scenario(self.scenario, attempt.schedule, self.seed)


class SearchError(Exception):
    """The search could not go on (the stack is broken, a schedule would not build)."""


class _Failed(Exception):
    """Raised inside the Hypothesis test for a failing schedule (the property is falsified)."""

    def __init__(self, attempt: Attempt) -> None:
        super().__init__(attempt.schedule.describe())
        self.attempt = attempt


class _Stop(BaseException):
    """Ends the generation phase at once: Hypothesis lets a BaseException through."""


@dataclass
class Search:
    """One exploration of ``scenario``'s envelope (see the module docstring)."""

    scenario: Scenario
    runner: Runner
    budget_s: float
    max_examples: int = 100
    repeat: int = 2
    seed: int = 0
    db: Path | None = None
    progress: Callable[[str], None] = lambda line: None
    clock: Callable[[], float] = time.monotonic
    _memo: dict[str, Attempt] = field(default_factory=dict, init=False)
    _attempts: list[Attempt] = field(default_factory=list, init=False)
    _stopped: str = field(default="", init=False)
    _not_run: int = field(default=0, init=False)
    _errors_in_a_row: int = field(default=0, init=False)
    _error: str = field(default="", init=False)
    _start: float = field(default=0.0, init=False)

    def run(self) -> SearchResult:
        """Search until a failure is shrunk, the examples or the budget are spent, or an
        interrupt; never raises for the system's failures (``SearchError`` for set-up)."""
        self._start = self.clock()
        minimal: Attempt | None = None
        test = self._hypothesis_test()
        try:
            with _shrink_limit(self.budget_s):
                test()
        except _Failed as failed:
            minimal = failed.attempt
        except _Stop:
            pass
        except KeyboardInterrupt:
            self._stopped = "interrupted"
        if minimal is None:  # Hypothesis gave up shrinking another way: keep the best seen
            minimal = next((a for a in reversed(self._attempts) if a.failed), None)
        if self._stopped == "error" and minimal is None and not self._attempts_ran():
            raise SearchError(self._error)
        return SearchResult(
            self.scenario,
            self.seed,
            list(self._attempts),
            minimal,
            self.clock() - self._start,
            self._stopped or ("done" if minimal is not None else "examples"),
            self._error,
            self._not_run,
        )

    def _attempts_ran(self) -> bool:
        return any(not a.errored for a in self._attempts)

    def _hypothesis_test(self) -> Callable[[], None]:
        envelope = self.scenario.explore
        assert envelope is not None

        def example(schedule: Schedule) -> None:
            attempt = self._attempt(schedule)
            if attempt is None:
                return
            for metric in envelope.target:
                values = [r.metrics.get(metric, math.nan) for r in attempt.runs]
                finite = [v for v in values if math.isfinite(v)]
                if finite:
                    hypothesis.target(max(finite), label=metric)
            if attempt.failed:
                raise _Failed(attempt)

        digest = f"{self.scenario.name}\n{envelope.model_dump_json()}"
        example._hypothesis_internal_add_digest = hashlib.sha256(  # type: ignore[attr-defined]
            digest.encode()
        ).digest()
        options = hypothesis_settings(
            database=DirectoryBasedExampleDatabase(str(self.db)) if self.db else None,
            max_examples=self.max_examples,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            phases=PHASES,
            report_multiple_bugs=False,
            verbosity=Verbosity.quiet,
            print_blob=False,
            derandomize=False,
        )
        # ``seed`` also turns the database off; the settings applied after it turn it back on.
        seeded = hypothesis.seed(self.seed)(given(schedules(self.scenario))(example))
        return options(seeded)  # type: ignore[no-any-return]

    def _attempt(self, schedule: Schedule) -> Attempt | None:
        """The attempt of ``schedule``: memoised, run now, or None (not run: time is up)."""
        key = schedule.key()
        if key in self._memo:
            return self._memo[key]
        failure_seen = any(a.failed for a in self._attempts)
        if self._stopped or self.clock() - self._start >= self.budget_s:
            self._stopped = self._stopped or "budget"
            self._not_run += 1
            if not failure_seen:
                raise _Stop
            return None
        phase = "shrink" if failure_seen else "search"
        attempt = Attempt(len(self._attempts) + 1, schedule, phase, [], self.clock() - self._start)
        self._attempts.append(attempt)
        self._memo[key] = attempt
        self._run(attempt, self.repeat if failure_seen else 1)
        if attempt.failed and not failure_seen and self.repeat > 1 and not self._stopped:
            self._run(attempt, self.repeat - 1)  # the first failure: how often does it repeat?
        return attempt

    def _run(self, attempt: Attempt, times: int) -> None:
        scenario = to_scenario(self.scenario, attempt.schedule, self.seed)
        for _ in range(times):
            label = f"{attempt.index:03d}-{len(attempt.runs) + 1}"
            result = self.runner(scenario, label)
            attempt.runs.append(result)
            self._note(attempt, result)
            if result.interrupted:
                self._stopped = "interrupted"
                return
            if self._errors_in_a_row >= MAX_CONSECUTIVE_ERRORS or not self._attempts_ran():
                if result.error and not result.failed:
                    self._stopped, self._error = "error", result.error
                    raise _Stop
            if self._stopped or self.clock() - self._start >= self.budget_s:
                return

    def _note(self, attempt: Attempt, result: RunResult) -> None:
        if result.error and not result.failed and not result.interrupted:
            self._errors_in_a_row += 1
        else:
            self._errors_in_a_row = 0
        word = "FAIL" if result.failed else ("ERROR" if result.error else "pass")
        detail = "; ".join(result.reasons) or result.error
        elapsed = self.clock() - self._start
        self.progress(
            f"explore: [{elapsed:5.0f}s] #{attempt.index} run {len(attempt.runs)} "
            f"({attempt.phase}) {word}: {attempt.schedule.describe()}"
            + (f" -- {detail}" if detail else "")
        )


@contextlib.contextmanager
def _shrink_limit(seconds: float) -> Iterator[None]:
    """Raise Hypothesis's shrink time limit to ``seconds`` (at least its own) meanwhile."""
    saved: Any = hypothesis_engine.MAX_SHRINKING_SECONDS
    hypothesis_engine.MAX_SHRINKING_SECONDS = max(int(math.ceil(seconds)), int(saved))
    try:
        yield
    finally:
        hypothesis_engine.MAX_SHRINKING_SECONDS = saved


__all__ = ["Attempt", "Runner", "RunResult", "Search", "SearchError", "SearchResult"]
