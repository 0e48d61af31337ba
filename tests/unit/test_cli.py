"""The command registry: each command is dispatched to the one area that registers it."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from ndrtrack import cli


def commands(parser: argparse.ArgumentParser) -> set[str]:
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return set(actions[0].choices) if actions else set()


def test_every_registered_command_has_its_owner_listed() -> None:
    assert commands(cli.build_parser()) == set(cli.COMMAND_OWNERS)


@pytest.mark.parametrize("command", sorted(cli.COMMAND_OWNERS))
def test_a_command_alone_builds_from_its_own_area(command: str) -> None:
    assert command in commands(cli.build_parser([command, "--help"]))


def test_unknown_command_and_bare_help_list_every_command(capsys: pytest.CaptureFixture[str]) \
        -> None:
    assert commands(cli.build_parser(["no-such-command"])) == set(cli.COMMAND_OWNERS)
    assert cli.main([]) == 2
    usage = capsys.readouterr().err
    assert all(command in usage for command in cli.COMMAND_OWNERS)


def test_logs_command_does_not_import_the_decoder_or_dns() -> None:
    code = ("import sys, ndrtrack.cli as c; c.build_parser(['logs', 'search']); "
            "print(sorted(m for m in sys.modules if m.startswith(('ndrtrack.dns', "
            "'ndrtrack.parse'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "[]"
