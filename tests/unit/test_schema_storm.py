"""Schema-driven storms: the scenario section, the storm's version and drift columns, the
built-in consumer's reader, and ``schema_rejected`` over synthetic histories."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness import events
from harness.checks import check
from harness.drivers.effects import PoisonError
from harness.drivers.schema_reader import SchemaReader
from harness.errors import ConfigError
from harness.load import build_storm
from harness.load.schema_bodies import must_read, readable_versions
from harness.scenario import load_scenario, parse_scenario

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas"


def _scenario_text(
    schema: str, target: str = "{kafka: {topic: t, dead_letter_topic: t.dlq}}"
) -> str:
    return f"""
name: schema-unit
target: {target}
storm:
  duration: 10s
  rate: {{per_second: 100}}
  schema:
{schema}
"""


JSON_SCHEMA = f"""    versions:
      v1: {{file: {SCHEMAS}/orders-v1.json}}
      v2: {{file: {SCHEMAS}/orders-v2.json}}
      v3: {{file: {SCHEMAS}/orders-v3.json}}
    reader: v2
    schema_change: [{{to: v2, fraction: 0.5, at: 2s}}, {{to: v3, fraction: 0.2, at: 6s}}]
    schema_drift: {{fraction: 0.1, at: 4s, for: 2s}}
"""


def _storm(seed: int = 7):
    scenario = parse_scenario(_scenario_text(JSON_SCHEMA))
    return scenario, build_storm(scenario.storm, seed)


def test_versions_follow_the_changes_and_drift_stays_in_its_window() -> None:
    scenario, storm = _storm()
    assert storm.version is not None and storm.drift is not None
    t = storm.t_offset
    assert set(storm.version[t < 2]) == {0}
    assert set(storm.version[(t >= 2) & (t < 6)]) == {0, 1}
    assert 2 in set(storm.version[t >= 6])
    assert set(storm.drift[(t < 4) | (t >= 6)]) == {0}
    assert storm.drift[(t >= 4) & (t < 6)].any()


def test_the_same_seed_replays_versions_drift_and_bodies() -> None:
    _, first = _storm(7)
    _, again = _storm(7)
    assert np.array_equal(first.version, again.version)
    assert np.array_equal(first.drift, again.drift)
    assert [first.payload(i) for i in range(0, len(first), 97)] == [
        again.payload(i) for i in range(0, len(again), 97)
    ]


def test_shards_make_the_bodies_of_the_whole_storm() -> None:
    _, storm = _storm()
    whole = {storm.id[i]: storm.payload(i) for i in range(len(storm))}
    for shard in storm.split(3):
        assert all(whole[shard.id[i]] == shard.payload(i) for i in range(len(shard)))


def test_the_reader_reads_compatible_versions_and_refuses_what_it_cannot() -> None:
    scenario, storm = _storm()
    schema = scenario.storm.schema_
    assert schema is not None
    assert readable_versions(schema).tolist() == [True, True, True]  # v1 BACKWARD, v3 FORWARD
    reader = SchemaReader(schema)
    required = must_read(schema, storm.version, storm.drift)
    for row in range(len(storm)):
        event = storm.event(row, 0.0, 0.0)
        decoded = events.decode_kafka(*events.encode_kafka(event, 0.0))
        if required[row]:
            assert reader.check(decoded) is decoded
    poison = decoded._replace(payload=b"POISON{")
    with pytest.raises(PoisonError, match="not JSON") as raised:
        reader.check(poison)
    assert raised.value.event is poison


def test_a_strict_old_reader_rejects_the_new_optional_field() -> None:
    text = _scenario_text(f"""    versions:
      v1: {{file: {SCHEMAS}/orders-v1.json}}
      v2: {{file: {SCHEMAS}/orders-v2.json}}
    reader: v2
    consumer_version: v1
    schema_change: {{to: v2, at: 0s}}
""")
    scenario = parse_scenario(text)
    storm = build_storm(scenario.storm, 3)
    reader = SchemaReader(scenario.storm.schema_)
    outcomes = []
    for row in range(200):
        event = storm.event(row, 0.0, 0.0)
        decoded = events.decode_kafka(*events.encode_kafka(event, 0.0))
        try:
            reader.check(decoded)
            outcomes.append("ok")
        except PoisonError as error:
            assert "channel" in str(error) or "Additional properties" in str(error)
            outcomes.append("dlq")
    assert "ok" in outcomes and "dlq" in outcomes


@pytest.mark.parametrize("confluent", [True, False])
def test_avro_events_are_read_by_the_reader_version(confluent: bool) -> None:
    ids = ", confluent_id: 1" if confluent else ""
    ids2 = ", confluent_id: 2" if confluent else ""
    text = _scenario_text(f"""    versions:
      v1: {{file: {SCHEMAS}/orders-v1.avsc{ids}}}
      v2: {{file: {SCHEMAS}/orders-v2.avsc{ids2}}}
    reader: v2
    schema_change: {{to: v2, fraction: 0.5, at: 0s}}
""")
    scenario = parse_scenario(text)
    storm = build_storm(scenario.storm, 5)
    reader = SchemaReader(scenario.storm.schema_)
    for row in range(50):
        event = storm.event(row, 0.0, 0.0)
        if not confluent and storm.version[row] == 0:
            continue  # unframed: a reader cannot tell v1 bytes from v2's
        decoded = events.decode_kafka(*events.encode_kafka(event, 0.0))
        assert reader.check(decoded) is decoded
    with pytest.raises(PoisonError):
        reader.check(decoded._replace(payload=b"\x00\x00\x00\x00\x09garbage"))


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ("    versions: {v1: {file: nowhere.json}}\n", "cannot read the schema file"),
        (
            f"    versions: {{v1: {{file: {SCHEMAS}/orders-v1.json}}}}\n    reader: v9\n",
            "unknown version 'v9'",
        ),
        (
            f"    versions: {{v1: {{file: {SCHEMAS}/orders-v1.json}}}}\n"
            "    schema_change: {to: v2}\n",
            "unknown version 'v2'",
        ),
        (
            f"    versions: {{a: {{file: {SCHEMAS}/orders-v1.json}}, "
            f"b: {{file: {SCHEMAS}/orders-v1.avsc}}}}\n",
            "one schema language",
        ),
        (
            f"    versions: {{a: {{file: {SCHEMAS}/orders-v1.avsc}}}}\n"
            "    schema_drift: {fraction: 0.1}\n",
            "drift applies to JSON",
        ),
        (
            f"    versions: {{a: {{file: {SCHEMAS}/orders-v1.json, confluent_id: 3}}}}\n",
            "Avro schemas only",
        ),
    ],
)
def test_a_bad_schema_section_is_one_located_error(schema: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        parse_scenario(_scenario_text(schema))
    assert "storm.schema" in str(raised.value)


def test_schema_storms_are_refused_on_targets_that_cannot_carry_them() -> None:
    schema = f"    versions: {{v1: {{file: {SCHEMAS}/orders-v1.json}}}}\n"
    with pytest.raises(ConfigError, match="Kafka and RabbitMQ targets"):
        parse_scenario(_scenario_text(schema, "{nats: {subject: s}}"))


def test_relative_files_are_read_from_the_scenario_folder(tmp_path: Path) -> None:
    (tmp_path / "v1.json").write_text((SCHEMAS / "orders-v1.json").read_text())
    path = tmp_path / "s.yaml"
    path.write_text(_scenario_text("    versions: {v1: {file: v1.json}}\n"))
    scenario = load_scenario(path)
    assert scenario.storm.schema_ is not None
    assert scenario.storm.schema_.versions["v1"].file == str((tmp_path / "v1.json").resolve())


def test_scaling_moves_the_change_and_the_drift() -> None:
    scenario, _ = _storm()
    scaled = scenario.scaled(0.5).storm.schema_
    assert scaled is not None
    assert [c.at for c in scaled.changes] == [1.0, 3.0]
    assert scaled.schema_drift is not None
    assert (scaled.schema_drift.at, scaled.schema_drift.for_) == (2.0, 1.0)


def _history(dead: list[str], ids: list[str]) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for n, event_id in enumerate(ids):
        rows.append({"op": "send", "id": event_id, "key": "k", "seq": n + 1, "t": n * 0.01,
                     "t_intended": n * 0.01, "t_ack": n * 0.01 + 0.001, "status": "ok",
                     "partition": 0, "offset": n})  # fmt: skip
        rows.append({"op": "recv", "id": event_id, "key": "k", "seq": n + 1, "t": n * 0.01 + 0.002,
                     "partition": 0, "offset": n, "group": "g"})  # fmt: skip
        op = "dead_letter" if event_id in dead else "effect"
        rows.append({"op": op, "id": event_id, "key": "k", "seq": n + 1, "t": n * 0.01 + 0.003})
    return rows


@given(
    must=st.lists(st.booleans(), min_size=1, max_size=30),
    dead=st.lists(st.booleans(), min_size=30, max_size=30),
)
@settings(max_examples=60, deadline=None)
def test_schema_rejected_counts_exactly_the_dead_lettered_must_reads(
    must: list[bool], dead: list[bool]
) -> None:
    ids = [f"e-{n}" for n in range(len(must))]
    dead_ids = [i for i, d in zip(ids, dead, strict=False) if d]
    plan = pa.table({"id": ids, "must_read": must})
    result = check(pd.DataFrame(_history(dead_ids, ids)), schema_plan=plan)
    expected = sum(1 for m, d in zip(must, dead, strict=False) if m and d)
    assert result.anomalies["schema_rejected"] == expected
    assert result.anomalies["dlq_unexpected"] == 0  # every id is a schema event
    without = check(pd.DataFrame(_history(dead_ids, ids)))
    assert without.anomalies["dlq_unexpected"] == len(dead_ids)
    assert "schema_rejected" in without.skipped


def test_the_plan_written_beside_a_history_is_read_with_it(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from harness.checks import check_file
    from harness.history import HistoryWriter

    ids = ["a", "b"]
    with HistoryWriter(tmp_path / "history.parquet") as writer:
        writer.extend(_history(["a", "b"], ids))
    pq.write_table(pa.table({"id": ids, "must_read": [True, False]}),
                   tmp_path / "schema-plan.parquet")  # fmt: skip
    result = check_file(tmp_path / "history.parquet")
    assert result.anomalies["schema_rejected"] == 1
    assert json.loads(json.dumps(result.to_json()))["anomalies"]["schema_rejected"] == 1
