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
    expected = {"bench", "check", "compare", "explore", "heal", "history", "report", "run", "stack"}
    assert expected <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_help_of_every_command_exits_0(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main([command, "--help"])
    assert stop.value.code == 0
    assert f"harness {command}" in capsys.readouterr().out


def test_each_command_is_registered_by_the_module_the_table_names() -> None:
    from harness.cli import COMMANDS

    everything = build_parser()
    registered = next(a for a in everything._actions if a.dest == "command").choices
    assert set(registered) == set(COMMANDS)
    for command in COMMANDS:
        alone = next(a for a in build_parser(command)._actions if a.dest == "command").choices
        assert command in alone


def test_a_command_line_imports_only_its_own_command_module() -> None:
    import subprocess
    import sys

    probe = (
        "import sys; from harness.cli import main; main(['validate', 'scenarios']); "
        "print(sorted(m for m in ('pandas', 'matplotlib') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout + done.stderr
