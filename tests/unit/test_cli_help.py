"""`router --version`, and a description in every command's own `--help`."""

from __future__ import annotations

import argparse

import pytest

from router import __version__
from router.cli import main, parser


def _subcommands(
    command: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    found: list[tuple[tuple[str, ...], argparse.ArgumentParser]] = []
    for action in command._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.append(((*path, name), sub))
                found.extend(_subcommands(sub, (*path, name)))
    return found


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"router {__version__}"


def test_every_command_is_listed() -> None:
    names = {path for path, _ in _subcommands(parser())}
    expected = {
        "serve",
        "consume",
        "dlq",
        "migrate",
        "config",
        "create-key",
        "revoke-key",
        "refresh-reports",
    }
    assert {(name,) for name in expected} <= names
    assert {("dlq", "list"), ("dlq", "show"), ("dlq", "replay")} <= names


@pytest.mark.parametrize("path", [path for path, _ in _subcommands(parser())], ids=" ".join)
def test_every_command_help_has_a_description(
    path: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([*path, "--help"])
    assert exit_.value.code == 0
    shown = capsys.readouterr().out
    description = dict(_subcommands(parser()))[path].description
    assert description, f"router {' '.join(path)} has no description"
    # The description says more than the one-line summary in the parent's list.
    assert len(description) > 40
    assert " ".join(description.split()[:4]) in " ".join(shown.split())
