"""Every command's ``--help`` renders: a ``%`` in a help string once made it a traceback."""

from __future__ import annotations

import argparse

import pytest

from harness.cli import build_parser, main

COMMANDS = sorted(
    name
    for action in build_parser()._actions
    if isinstance(action, argparse._SubParsersAction)
    for name in action.choices
)


def test_the_documented_commands_are_all_registered() -> None:
    expected = {"bench", "check", "compare", "heal", "history", "report", "run", "stack"}
    assert expected <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_help_of_every_command_exits_0(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main([command, "--help"])
    assert stop.value.code == 0
    assert f"harness {command}" in capsys.readouterr().out
