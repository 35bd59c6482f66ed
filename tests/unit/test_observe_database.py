"""The database source's pure parts (query rows -> effect rows, the run clock, SQLite paths,
per-run names) and the whole source on a real SQLite file (no server needed)."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.drivers import ListRecorder
from harness.errors import ConfigError
from harness.faults.targets import scenario_nodes
from harness.observe import ObserveContext
from harness.observe.kinds._database_clients import check_dsn, with_database
from harness.observe.kinds.database import (
    KIND,
    EffectTally,
    database_name,
    rows_to_effects,
    sqlite_path,
    to_run_clock,
)
from harness.scenario import build_scenario
from harness.scenario.observe import DatabaseSource, ObserveEntry, SqliteDatabase

EPOCH = 1_764_662_400.25  # 2025-12-02 08:00:00.25 UTC


# --- the run clock ------------------------------------------------------------------------


def test_epoch_seconds_become_run_clock_seconds() -> None:
    assert to_run_clock(EPOCH, 1_764_000_000.0) == pytest.approx(662_400.25)
    assert to_run_clock(Decimal("1764662400.250000"), EPOCH) == pytest.approx(0.0)
    assert to_run_clock(int(EPOCH), 0.0) == int(EPOCH)


def test_timestamps_and_iso_text_are_read_as_their_instant() -> None:
    aware = datetime.fromtimestamp(EPOCH, tz=UTC)
    assert to_run_clock(aware, EPOCH) == pytest.approx(0.0)
    elsewhere = aware.astimezone(timezone(timedelta(hours=5)))
    assert to_run_clock(elsewhere, EPOCH) == pytest.approx(0.0)
    naive_utc = aware.replace(tzinfo=None)  # SQLite's CURRENT_TIMESTAMP: UTC, no zone
    assert to_run_clock(naive_utc, EPOCH) == pytest.approx(0.0)
    assert to_run_clock(str(naive_utc), EPOCH) == pytest.approx(0.0)
    assert to_run_clock("1764662400.25", EPOCH) == pytest.approx(0.0)
    assert to_run_clock(b"1764662400.25", EPOCH) == pytest.approx(0.0)


@pytest.mark.parametrize("value", [None, "", "soon", float("nan"), float("inf"), True, [1.0]])
def test_values_that_name_no_time_give_none(value: object) -> None:
    assert to_run_clock(value, 0.0) is None


@given(
    epoch=st.floats(min_value=0, max_value=4e9, allow_nan=False),
    offset=st.floats(min_value=-1e10, max_value=1e10, allow_nan=False),
)
def test_the_conversion_undoes_the_wall_offset(epoch: float, offset: float) -> None:
    t = to_run_clock(epoch, offset)
    assert t is not None and t + offset == pytest.approx(epoch, abs=1e-3)


@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1)))
def test_a_timestamp_and_its_epoch_agree(moment: datetime) -> None:
    aware = moment.replace(tzinfo=UTC)
    assert to_run_clock(aware, 0.0) == pytest.approx(to_run_clock(aware.timestamp(), 0.0))
    assert to_run_clock(aware.isoformat(), 0.0) == pytest.approx(aware.timestamp())


# --- rows -> effects ----------------------------------------------------------------------


def test_each_row_is_one_effect_and_duplicate_rows_are_duplicate_effects() -> None:
    rows = [("e1", EPOCH), ("e2", EPOCH + 1), ("e1", EPOCH + 2), (7, EPOCH + 3)]
    effects = rows_to_effects(rows, EPOCH, seen_at=-1.0)
    assert Counter(i for i, _ in effects) == {"e1": 2, "e2": 1, "7": 1}
    assert sorted(t for i, t in effects if i == "e1") == pytest.approx([0.0, 2.0])


def test_rows_without_a_time_take_the_time_they_were_seen_and_null_ids_are_skipped() -> None:
    effects = rows_to_effects([("e1",), ("e2", None), (None, EPOCH)], EPOCH, seen_at=42.0)
    assert effects == [("e1", 42.0), ("e2", 42.0)]


def test_a_row_seen_again_is_not_a_new_effect_but_a_second_row_is() -> None:
    tally = EffectTally()
    assert tally.new_rows([("a", 1.0)]) == [("a", 1.0)]
    assert tally.new_rows([("a", 1.0)]) == []
    assert tally.new_rows([("a", 1.0), ("b", 2.0), ("a", 3.0)]) == [("a", 3.0), ("b", 2.0)]
    assert tally.new_rows([("b", 2.0)]) == []  # a vanished row is not taken back
    assert tally.new_rows([(None, 1.0), (None, 2.0)]) == [] and tally.null_ids == 2


ids = st.text(alphabet="abcde", min_size=1, max_size=2)
tables = st.lists(st.tuples(ids, st.floats(0, 100, allow_nan=False)), max_size=40)


@given(table=tables, cuts=st.lists(st.integers(0, 40), max_size=6), data=st.randoms())
def test_polling_a_growing_table_records_each_row_exactly_once(table, cuts, data) -> None:
    """Law: whatever the polls (prefixes of the table in any row order, repeated), the effects
    recorded are the table's rows, as a multiset of ids."""
    tally = EffectTally()
    emitted: Counter[str] = Counter()
    for cut in [*sorted(cuts), len(table), len(table)]:
        snapshot = list(table[:cut])
        data.shuffle(snapshot)
        emitted.update(i for i, _ in tally.new_rows(snapshot))
    assert emitted == Counter(i for i, _ in table)


# --- names and paths ------------------------------------------------------------------------


def test_run_ids_fold_to_a_database_name() -> None:
    assert database_name("42-a1b2c3") == "run_42_a1b2c3"
    assert database_name("Seed-X.y") == "run_seed_x_y"


@given(st.text(max_size=200))
def test_a_database_name_is_always_a_plain_identifier(run_id: str) -> None:
    name = database_name(run_id)
    assert re.fullmatch(r"run_[a-z0-9_]*", name) and len(name) <= 63


def test_sqlite_paths_are_inside_the_state_dir(tmp_path: Path) -> None:
    assert sqlite_path(tmp_path, "effects.db") == tmp_path / "effects.db"
    assert sqlite_path(tmp_path, "db/effects.db") == tmp_path / "db" / "effects.db"


@pytest.mark.parametrize("path", ["/etc/passwd", "../x.db", "a/../../x.db", "", "  ", "a\\b.db"])
def test_sqlite_paths_that_leave_the_state_dir_are_refused(tmp_path: Path, path: str) -> None:
    with pytest.raises(ConfigError, match="relative path inside the run's state dir"):
        sqlite_path(tmp_path, path)


@given(st.text(max_size=40))
def test_an_accepted_sqlite_path_never_leaves_the_state_dir(path: str) -> None:
    root = Path("/state")
    try:
        found = sqlite_path(root, path)
    except ConfigError:
        return
    assert found.is_relative_to(root) and ".." not in found.parts


def test_a_dsn_names_another_database_in_its_own_form() -> None:
    url = "postgresql://harness:s3cret@127.0.0.1:5432/postgres"
    assert with_database(url, "run_1") == "postgresql://harness:s3cret@127.0.0.1:5432/run_1"
    assert with_database(url, "run_1", 35432).endswith("@127.0.0.1:35432/run_1")
    conninfo = with_database("host=127.0.0.1 port=5432 dbname=postgres", "run_1")
    assert "dbname=run_1" in conninfo and "port=5432" in conninfo


def test_a_dsn_off_loopback_is_refused_and_its_password_never_shown() -> None:
    with pytest.raises(ConfigError) as caught:
        check_dsn("postgresql://harness:s3cret@10.1.2.3:5432/postgres")
    assert "s3cret" not in str(caught.value)
    with pytest.raises(ConfigError, match="names no TCP host"):
        check_dsn("postgresql://harness@/postgres")
    check_dsn("postgresql://harness:s3cret@127.0.0.1:5432/postgres")


# --- the whole source on SQLite -----------------------------------------------------------


def _sqlite_source(tmp_path: Path, recorder: ListRecorder) -> KIND:
    settings = DatabaseSource(
        sqlite=SqliteDatabase(path="effects.db"),
        setup=["CREATE TABLE effects (event_id TEXT, applied_at REAL)"],
        query="SELECT event_id, applied_at FROM effects",
        env="EFFECTS_DB",
        poll_interval=0.05,
    )
    ctx = ObserveContext(
        stack=None, run_id="1-abc", recorder=recorder, work_dir=tmp_path, state_dir=tmp_path,
        target_kind="kafka", destination="orders", dead_letters="orders.dlq",
    )  # fmt: skip
    return KIND("effects", settings, ctx)


async def test_the_source_records_every_row_of_a_sqlite_file_once(tmp_path: Path) -> None:
    recorder = ListRecorder()
    source = _sqlite_source(tmp_path, recorder)
    await source.start()
    try:
        path = source.env()["EFFECTS_DB"]
        assert path == str(tmp_path / "effects.db")
        with sqlite3.connect(path) as db:
            db.executemany("INSERT INTO effects VALUES (?, ?)",
                           [("e1", EPOCH), ("e2", EPOCH), ("e1", EPOCH + 1)])  # fmt: skip
        assert await source.drain(5.0)
        with sqlite3.connect(path) as db:
            db.execute("INSERT INTO effects VALUES ('e3', NULL)")
        assert await source.drain(5.0)
    finally:
        await source.stop()
        await source.stop()  # idempotent
    rows = recorder.rows
    assert Counter(r["id"] for r in rows) == {"e1": 2, "e2": 1, "e3": 1}
    assert {r["op"] for r in rows} == {"effect"} and {r["source"] for r in rows} == {
        "observe:effects"
    }
    stats = source.stats()
    assert stats["observed"] == 4 and stats["untimed"] == 1 and stats["poll_errors"] == 0


async def test_a_query_that_fails_on_the_fresh_database_is_a_config_error(tmp_path: Path) -> None:
    source = _sqlite_source(tmp_path, ListRecorder())
    source.settings = source.settings.model_copy(update={"query": "SELECT nope FROM missing"})
    with pytest.raises(ConfigError, match="fails on the freshly set-up database"):
        await source.start()
    await source.stop()


async def test_a_bad_setup_statement_is_a_config_error(tmp_path: Path) -> None:
    source = _sqlite_source(tmp_path, ListRecorder())
    source.settings = source.settings.model_copy(update={"setup": ["CREATE TABLE"]})
    with pytest.raises(ConfigError, match="setup statement 'CREATE TABLE' failed"):
        await source.start()
    await source.stop()


async def test_drain_gives_up_at_its_deadline_while_the_database_cannot_be_read(
    tmp_path: Path,
) -> None:
    source = _sqlite_source(tmp_path, ListRecorder())
    await source.start()
    source.settings = source.settings.model_copy(update={"query": "SELECT * FROM gone"})
    try:
        assert await asyncio.wait_for(source.drain(0.5), 5) is False
    finally:
        await source.stop()
    assert source.stats()["poll_errors"] >= 1


@pytest.mark.parametrize("path", ["/etc/passwd", "../x.db", "a/../../x.db", "  ", "a\\b.db"])
def test_the_scenario_refuses_a_sqlite_path_outside_the_state_dir(path: str) -> None:
    with pytest.raises(ValueError, match="relative path inside the run's state dir"):
        ObserveEntry.model_validate({"database": {"sqlite": {"path": path}, "query": "SELECT 1"}})


SCENARIO: dict[str, object] = {
    "name": "pg",
    "target": {"kafka": {"topic": "orders", "partitions": 2}},
    "storm": {"duration": "10s", "rate": {"per_second": 100}},
    "system_under_test": {"command": ["python", "svc.py"]},
}
POSTGRES_FAULTS = [
    {"at": "2s", "kill": {"target": "postgres"}, "restart_after": "1s"},
    {"at": "5s", "proxy_down": {"target": "postgres"}, "duration": "1s"},
    {"at": "7s", "toxic": {"target": "postgres", "type": "latency",
                  "attributes": {"latency": 50}},
     "duration": "1s"},
]  # fmt: skip


def test_a_postgres_database_makes_postgres_a_fault_target() -> None:
    observe = [{"database": {"postgres": {}, "query": "SELECT id, t FROM effects"}}]
    scenario = build_scenario({**SCENARIO, "observe": observe, "faults": POSTGRES_FAULTS})
    assert scenario_nodes(scenario)[-1] == "postgres"
    sqlite = [{"database": {"sqlite": {}, "query": "SELECT id, t FROM effects"}}]
    with pytest.raises(ConfigError, match="unknown target 'postgres'"):
        build_scenario({**SCENARIO, "observe": sqlite, "faults": POSTGRES_FAULTS[:1]})
