"""Every relative link in README.md and docs/*.md points at a file of the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]
DOCUMENTS = [REPOSITORY / "README.md", *sorted((REPOSITORY / "docs").glob("*.md"))]
# Inline links `[text](target "title")` and reference definitions `[name]: target`.
_INLINE = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE)
_FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"`[^`\n]*`")
_EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)


def relative_links(text: str) -> list[str]:
    """The link targets in a Markdown text that name a file (no scheme, not an anchor alone)."""
    prose = _CODE_SPAN.sub("", _FENCE.sub("", text))
    targets = _INLINE.findall(prose) + _REFERENCE.findall(prose)
    files = (target.split("#", 1)[0] for target in targets if not _EXTERNAL.match(target))
    return [target for target in files if target]


def test_the_scan_finds_relative_links_and_leaves_the_rest() -> None:
    text = (
        "See [ops](docs/operations.md#health), [site](https://example.com/x.md),\n"
        "[top](#layout), [mail](mailto:a@example.com) and `[code](not/a/link.md)`.\n"
        "```\n[fenced](also/not.md)\n```\n"
        "[ref]: openapi/openapi.json\n"
    )
    assert relative_links(text) == ["docs/operations.md", "openapi/openapi.json"]


def test_the_readme_links_into_docs() -> None:
    assert "docs/configuration.md" in relative_links(DOCUMENTS[0].read_text(encoding="utf-8"))


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_every_relative_link_resolves(document: Path) -> None:
    links = relative_links(document.read_text(encoding="utf-8"))
    broken = [link for link in links if not (document.parent / link).exists()]
    assert broken == [], f"{document.relative_to(REPOSITORY)} links to missing files"
