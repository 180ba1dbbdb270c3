"""The locks in requirements/ cover pyproject.toml's dependencies, pinned with hashes.

The image and `make serve`/`make test` install only from the locks (`--require-hashes`), so a
dependency added to pyproject.toml but not to the locks would be missing there: `make locks`
refreshes them.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# `name==version \` followed by its `--hash=sha256:...` lines, markers allowed after `;`.
PIN = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(?P<version>\S+?)\s*(?:;|\\|$)"
)


def _locked(lock: str) -> dict[str, tuple[Version, list[str]]]:
    """Every pin of a lock file with its hashes."""
    pins: dict[str, tuple[Version, list[str]]] = {}
    current: str | None = None
    for line in (ROOT / "requirements" / lock).read_text().splitlines():
        if match := PIN.match(line):
            current = canonicalize_name(match["name"])
            pins[current] = (Version(match["version"]), [])
        elif line.strip().startswith("--hash=sha256:") and current is not None:
            pins[current][1].append(line.strip())
        elif line and not line.startswith((" ", "#")):
            raise AssertionError(f"requirements/{lock}: not a pin: {line!r}")
    return pins


def _wanted(*extras: str) -> list[Requirement]:
    project = PYPROJECT["project"]
    listed = list(project["dependencies"])
    for extra in extras:
        listed += project["optional-dependencies"][extra]
    return [Requirement(text) for text in listed]


@pytest.mark.parametrize(("lock", "extras"), [("runtime.txt", ()), ("dev.txt", ("dev",))])
def test_lock_pins_every_dependency_of_pyproject_within_its_range(
    lock: str, extras: tuple[str, ...]
) -> None:
    pins = _locked(lock)
    for requirement in _wanted(*extras):
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is not in requirements/{lock}: run make locks"
        version, _ = pins[name]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"requirements/{lock} pins {name}=={version}, outside pyproject's {requirement}"
        )


@pytest.mark.parametrize("lock", ["runtime.txt", "dev.txt"])
def test_every_pin_carries_hashes(lock: str) -> None:
    pins = _locked(lock)
    assert pins
    unhashed = [name for name, (_, hashes) in pins.items() if not hashes]
    assert unhashed == []


def test_dev_lock_keeps_the_runtime_versions() -> None:
    runtime, dev = _locked("runtime.txt"), _locked("dev.txt")
    assert set(runtime) <= set(dev)
    differing = {n: (v, dev[n][0]) for n, (v, _) in runtime.items() if dev[n][0] != v}
    assert differing == {}


def test_runtime_lock_leaves_the_test_tools_out() -> None:
    # `make serve` and the image install runtime.txt alone: no test runner, linter or checker.
    runtime = _locked("runtime.txt")
    assert {"pytest", "hypothesis", "schemathesis", "ruff", "mypy"} & set(runtime) == set()
