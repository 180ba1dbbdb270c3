"""The configuration reference (docs/configuration.md) names every setting there is."""

from __future__ import annotations

from pathlib import Path

from router.settings import Settings

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_every_setting_is_documented() -> None:
    text = REFERENCE.read_text()
    missing = [
        f"ROUTER_{name.upper()}"
        for name in Settings.model_fields
        if f"`ROUTER_{name.upper()}`" not in text
    ]
    assert missing == []
