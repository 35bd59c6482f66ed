"""Healer and journal: undos registered before faults, healed on demand and all at once."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from harness.errors import FaultError
from harness.faults.healing import Healer, Journal, Undo, replay


class Repairs:
    """Undoer that records what it was asked to repair, failing for chosen targets."""

    def __init__(self, failing: set[str] = frozenset()) -> None:
        self.done: list[Undo] = []
        self.failing = failing

    async def __call__(self, undo: Undo) -> None:
        if undo.target in self.failing:
            raise FaultError(f"{undo.target} is unreachable")
        self.done.append(undo)


def test_journal_holds_pending_undos_until_healed(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "run.json")
    repairs = Repairs()

    async def scenario() -> None:
        healer = Healer(repairs, journal)
        token = await healer.register(Undo("remove_toxic", "kafka-1", "harness-f0"))
        await healer.register(Undo("resume_node", "kafka-2"))
        assert [u.target for u in journal.read()] == ["kafka-1", "kafka-2"]
        await healer.heal(token)
        assert [u.target for u in journal.read()] == ["kafka-2"]
        assert await healer.heal_all() == []

    asyncio.run(scenario())
    assert [u.action for u in repairs.done] == ["remove_toxic", "resume_node"]
    assert not journal.path.exists()


def test_heal_all_tries_every_undo_newest_first_and_reports_failures(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "run.json")
    repairs = Repairs(failing={"kafka-2"})

    async def scenario() -> list[str]:
        healer = Healer(repairs, journal)
        for target in ("kafka-1", "kafka-2", "kafka-3"):
            await healer.register(Undo("enable_proxy", target))
        return await healer.heal_all()

    failures = asyncio.run(scenario())
    assert [u.target for u in repairs.done] == ["kafka-3", "kafka-1"]
    assert failures == [
        f"could not enable proxy kafka-2: kafka-2 is unreachable (kept in {journal.path} for "
        "`harness heal`)"
    ]
    assert [u.target for u in journal.read()] == ["kafka-2"]


def test_local_undos_run_their_callback_and_are_not_journaled(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "run.json")
    restarted: list[str] = []

    async def restart() -> None:
        restarted.append("consumer")

    async def scenario() -> None:
        healer = Healer(Repairs(), journal)
        await healer.register(Undo("local", "the consumer", callback=restart))
        assert not journal.path.exists()
        await healer.heal_all()

    asyncio.run(scenario())
    assert restarted == ["consumer"]


def test_heal_all_completes_even_when_the_caller_is_cancelled(tmp_path: Path) -> None:
    repairs = Repairs()

    async def slow(undo: Undo) -> None:
        await asyncio.sleep(0.05)
        await repairs(undo)

    async def scenario() -> None:
        healer = Healer(slow, Journal(tmp_path / "run.json"))
        await healer.register(Undo("resume_node", "kafka-1"))
        task = asyncio.create_task(healer.heal_all())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.1)

    asyncio.run(scenario())
    assert [u.target for u in repairs.done] == ["kafka-1"]


def test_unreadable_journal_names_the_file_and_the_way_out(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text(json.dumps({"pending": [{"nonsense": 1}]}))
    with pytest.raises(FaultError, match="broken.json.*harness heal") as caught:
        Journal(path).read()
    assert "--all" not in str(caught.value)


def test_replay_keeps_exactly_the_undos_that_failed_until_they_succeed(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "run.json")
    journal.write([Undo("enable_proxy", "kafka-1"), Undo("resume_node", "kafka-2"),
                   Undo("start_node", "kafka-3")])  # fmt: skip
    healed, failures = asyncio.run(replay(journal, Repairs(failing={"kafka-2"})))
    assert healed == ["start kafka-3 again", "enable proxy kafka-1"]
    assert failures == [
        f"could not resume kafka-2: kafka-2 is unreachable (kept in {journal.path})"
    ]
    assert journal.read() == [Undo("resume_node", "kafka-2")]
    again = Repairs()
    assert asyncio.run(replay(journal, again)) == (["resume kafka-2"], [])
    assert [u.target for u in again.done] == ["kafka-2"]
    assert not journal.path.exists()


def test_replay_of_an_unreadable_journal_reports_it_and_keeps_it(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "broken.json")
    journal.path.write_text("{not json")
    healed, failures = asyncio.run(replay(journal, Repairs()))
    assert healed == [] and len(failures) == 1
    assert "broken.json is unreadable" in failures[0] and "then delete" in failures[0]
    assert journal.path.exists()


def test_an_undo_unknown_to_every_kind_is_described_and_refused(tmp_path: Path) -> None:
    from typing import Any, cast

    from harness.faults import undo_on_stack

    nothing = cast(Any, None)
    undo = Undo("unplug_cable", "kafka-1", "port 3")
    assert undo.describe() == "unplug_cable kafka-1 (port 3)"
    with pytest.raises(FaultError, match="No fault kind knows the undo 'unplug_cable'"):
        asyncio.run(undo_on_stack(nothing, nothing)(undo))
    with pytest.raises(FaultError, match="only be done by the run that crashed it"):
        asyncio.run(undo_on_stack(nothing, nothing)(Undo("local", "the consumer")))
