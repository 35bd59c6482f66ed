"""The sharded storm engine's pure parts: how many processes, shard plans, columnar send rows,
the shard merge, and the history writer's columnar append."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.errors import ConfigError
from harness.events import rfc3339
from harness.history import HistoryWriter, read_history
from harness.load import build_storm
from harness.run.commands import parse_processes
from harness.run.shards import default_processes, merge_shards, plan_for, storm_processes
from harness.run.storm_shard import (
    ColumnarSends,
    ShardPlan,
    _WallTime,
    shard_path,
    shard_storm,
)
from harness.scenario import build_scenario


def _scenario(target: dict, **extra: object):
    return build_scenario(
        {
            "name": "s",
            "target": target,
            "storm": {"duration": 2, "rate": {"shape": "constant", "per_second": 500}},
            **extra,
        }
    )


KAFKA = {"kafka": {"topic": "t"}}
RABBIT = {"rabbitmq": {"queue": "q"}}


def test_processes_default_to_the_core_count_for_kafka_storms() -> None:
    assert storm_processes(_scenario(KAFKA), None) == default_processes() >= 1
    assert storm_processes(_scenario(KAFKA, load={"processes": 3}), None) == 3
    assert storm_processes(_scenario(KAFKA, load={"processes": 3}), 2) == 2


def test_other_storms_are_sent_by_one_process() -> None:
    assert storm_processes(_scenario(RABBIT), None) == 1
    with pytest.raises(ConfigError, match="only Kafka storms"):
        storm_processes(_scenario(RABBIT), 2)


def test_locust_scenarios_refuse_processes() -> None:
    with pytest.raises(ConfigError, match="processes applies to engine 'harness'"):
        _scenario(KAFKA, load={"engine": "locust", "processes": 2})


@pytest.mark.parametrize("text", ["0", "65", "two", "-1", "1.5"])
def test_bad_processes_flag_is_one_clear_error(text: str) -> None:
    with pytest.raises(ConfigError, match="--processes"):
        parse_processes(text)


def test_processes_flag() -> None:
    assert parse_processes(None) is None
    assert parse_processes("2") == 2


def test_shards_deal_the_storm_by_key_and_cover_it(tmp_path: Path) -> None:
    scenario = _scenario(KAFKA, storm={"duration": 2, "rate": {"per_second": 800}})
    plan = plan_for(scenario, tmp_path, 7, 3, "127.0.0.1:9092", "t-1")
    plan = ShardPlan.read(plan.save(tmp_path / "plan.json"))
    full = build_storm(scenario.storm, 7, run_prefix="e7")
    shards = [shard_storm(plan, i) for i in range(3)]
    assert sorted(np.concatenate([s.id for s in shards])) == sorted(full.id)
    key_sets = [set(s.key.tolist()) for s in shards]
    assert not (key_sets[0] & key_sets[1]) and not (key_sets[1] & key_sets[2])
    for shard in shards:
        assert np.all(np.diff(shard.t_offset) >= 0)


@given(st.floats(min_value=1.6e9, max_value=2.0e9, allow_nan=False))
def test_wall_time_matches_rfc3339(unix: float) -> None:
    assert _WallTime(0.0)(unix).decode() == rfc3339(unix)


def test_columnar_rows_follow_the_history_schema(tmp_path: Path) -> None:
    storm = build_storm(_scenario(KAFKA).storm, 1, run_prefix="e1")
    sends = ColumnarSends(storm, "shard-0")
    sends.t[:3] = [1.0, 2.0, 3.0]
    sends.t_ack[:3] = [1.5, 2.5, 3.5]
    sends.status[:3] = [0, 1, 0]
    sends.partition[[0, 2]] = [0, 1]
    sends.offset[[0, 2]] = [10, 11]
    sends.errors[1] = "NOT_ENOUGH_REPLICAS: x"
    table = sends.table(np.array([0, 1, 2]), storm.t_offset + 100.0)
    with HistoryWriter(tmp_path / "h.parquet") as writer:
        writer.append({"op": "send", "id": "first", "key": "k", "seq": 1, "t": 0.5, "status": "ok"})
        writer.append_table(table, source="test")
    rows = read_history(tmp_path / "h.parquet").to_pylist()
    assert rows[0]["id"] == "first"  # buffered rows go first
    sent = rows[1:]
    assert [r["status"] for r in sent] == ["ok", "fail", "ok"]
    assert [r["partition"] for r in sent] == [0, None, 1]
    assert [r["offset"] for r in sent] == [10, None, 11]
    assert sent[1]["error"] == "NOT_ENOUGH_REPLICAS: x"
    assert sent[0]["id"] == storm.id[0] and sent[0]["producer"] == "shard-0"
    assert sent[0]["t_intended"] == pytest.approx(storm.t_offset[0] + 100.0)


def test_merge_keeps_every_shard_and_names_its_worker(tmp_path: Path) -> None:
    storm = build_storm(_scenario(KAFKA).storm, 1, run_prefix="e1")
    for index in range(2):
        sends = ColumnarSends(storm, f"shard-{index}")
        rows = np.arange(index * 5, index * 5 + 5)
        sends.t[rows] = 1.0
        sends.t_ack[rows] = 2.0
        sends.status[rows] = 0 if index == 0 else 2
        writer = HistoryWriter(shard_path(tmp_path, index, ".parquet"))
        writer.append_table(sends.table(rows, storm.t_offset), source="t")
        if index == 0:
            writer.close()  # shard 1 stays a partial stream, as a killed shard leaves it
    with HistoryWriter(tmp_path / "run.parquet") as run:
        acked, sent = merge_shards(tmp_path, 3, run)  # shard 2 wrote nothing
    assert (acked, sent) == (5, 10)
    merged = read_history(tmp_path / "run.parquet")
    assert merged.column("worker").to_pylist() == ["shard-0"] * 5 + ["shard-1"] * 5


def test_append_table_refuses_a_column_of_the_wrong_type(tmp_path: Path) -> None:
    from harness.errors import HistoryError

    with HistoryWriter(tmp_path / "h.parquet") as writer:
        with pytest.raises(HistoryError, match="seq"):
            writer.append_table(pa.table({"op": ["send"], "seq": ["not a number"]}))


def test_a_lag_above_trigger_keeps_the_storm_in_process() -> None:
    crash = {"at": 0.5, "consumer_crash": {"when": "lag_above", "lag": 50}}
    scenario = _scenario(KAFKA, faults=[crash])
    assert storm_processes(scenario, None) == 1
    with pytest.raises(ConfigError, match="lag_above"):
        storm_processes(scenario, 2)
