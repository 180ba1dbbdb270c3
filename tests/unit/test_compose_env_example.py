"""`.env.example` names exactly the settings compose.yaml takes from a `.env` file."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _example_names() -> set[str]:
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^(?:# )?([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))


def _compose_inputs() -> set[str]:
    text = (ROOT / "compose.yaml").read_text()
    interpolated = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", text))
    # `NAME:` with no value in an environment block: passed through from the shell or .env.
    passed_through = set(re.findall(r"^\s+(ROUTER_[A-Z0-9_]+):\s*$", text, flags=re.MULTILINE))
    return interpolated | passed_through


def test_every_name_in_the_example_is_read_by_compose() -> None:
    assert _example_names() - _compose_inputs() == set()


def test_every_secret_compose_passes_through_is_in_the_example() -> None:
    text = (ROOT / "compose.yaml").read_text()
    passed_through = set(re.findall(r"^\s+(ROUTER_[A-Z0-9_]+):\s*$", text, flags=re.MULTILINE))
    assert passed_through
    assert passed_through - _example_names() == set()


def test_the_example_says_how_to_get_the_first_admin_key() -> None:
    assert "router create-key --role admin" in (ROOT / ".env.example").read_text()
