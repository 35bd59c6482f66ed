"""Fuzzing the env-file parser: any input ends in an EnvFile or one ConfigError, quickly, and no
error ever shows the passwords in the file.

Inputs: random YAML-ish text, random plain data dumped as YAML, and mutations of a valid env
file (fields dropped, replaced by odd values, keys renamed, lines cut)."""

from __future__ import annotations

import io
import time
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from harness.errors import ConfigError
from harness.stack import EnvFile, parse_env

SECRET = "pa55w0rd-xyz"
VALID = f"""\
version: 1
toxiproxy: {{api: "http://127.0.0.1:8474"}}
kafka:
  bootstrap: ["127.0.0.1:9091"]
  nodes:
    kafka-1:
      proxy: kafka-1
      address: "127.0.0.1:19091"
      control: {{kill: "kill -9 1", restart: [sh, -c, "exit 0"], timeout: 5s}}
rabbitmq:
  url: "amqp://app:{SECRET}@127.0.0.1:5672/%2F"
postgres:
  dsn: "postgresql://app:{SECRET}@127.0.0.1:5432/db"
"""
FAST = settings(max_examples=80, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
SECONDS = 2.0

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40),
    st.sampled_from(["", "kafka-1", "127.0.0.1:0", "::1", "amqp://x:y@", "1e309", "'", "- -"]),
)  # fmt: skip
data = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                 max_size=4),
    max_leaves=30,
)  # fmt: skip


def _parse(text: str) -> None:
    started = time.monotonic()
    try:
        env = parse_env(text, "fuzz.yaml")
        assert isinstance(env, EnvFile)
        assert SECRET not in repr(env)
    except ConfigError as error:
        message = str(error)
        assert "fuzz.yaml" in message.splitlines()[0], message
        assert SECRET not in message
    assert time.monotonic() - started < SECONDS


def _dump(value: Any) -> str:
    out = io.StringIO()
    YAML(typ="safe", pure=True).dump(value, out)
    return out.getvalue()


def _document() -> dict[str, Any]:
    loaded = YAML(typ="safe", pure=True).load(VALID)
    assert isinstance(loaded, dict)
    return loaded


@FAST
@given(st.text(max_size=400))
@example("")
@example("version: 1\n" * 3)
@example("a: &a [*a]")
@example("!!python/object:os.system {}")
@example(VALID.replace("1\n", "\x00\n", 1))
def test_any_text_gives_an_env_file_or_one_error(text: str) -> None:
    _parse(text)


@FAST
@given(data)
def test_any_data_gives_an_env_file_or_one_error(value: Any) -> None:
    _parse(_dump(value))


PATHS = [("version",), ("toxiproxy",), ("toxiproxy", "api"), ("kafka",), ("kafka", "bootstrap"),
         ("kafka", "nodes"), ("kafka", "nodes", "kafka-1"), ("kafka", "nodes", "kafka-1", "control"),
         ("kafka", "nodes", "kafka-1", "control", "kill"),
         ("kafka", "nodes", "kafka-1", "control", "timeout"),
         ("kafka", "nodes", "kafka-1", "address"), ("rabbitmq", "url"), ("postgres", "dsn")]  # fmt: skip


@FAST
@given(st.sampled_from(PATHS), st.one_of(st.just("DROP"), data))
def test_mutations_of_a_valid_file_give_an_env_file_or_one_error(
    path: tuple[str, ...], value: Any
) -> None:
    document = _document()
    parent: Any = document
    for key in path[:-1]:
        parent = parent[key]
    if value == "DROP":
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    _parse(_dump(document))


@FAST
@given(st.integers(0, len(VALID)))
def test_a_valid_file_cut_anywhere_gives_an_env_file_or_one_error(cut: int) -> None:
    _parse(VALID[:cut])


def test_the_valid_file_itself_parses() -> None:
    env = parse_env(VALID, "fuzz.yaml")
    assert env.kafka is not None and SECRET not in repr(env)
