"""The customer's own words of an email: quoted replies and signatures cut, HTML as text.

Nothing here does I/O; `parsing` uses it for every provider's email.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from html.parser import HTMLParser

# --- quoted-reply stripping --------------------------------------------------------------

# "On <date>, <name> wrote:" as mail clients write it in several languages.
_REPLY_HEADERS = [
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        r"^on\b.+\bwrote:$",  # English
        r"^am\b.+\bschrieb\b.*:$",  # German
        r"^le\b.+\ba [ée]crit\s?:$",  # French
        r"^el\b.+\bescribi[óo]:$",  # Spanish
        r"^il\b.+\bha scritto:$",  # Italian
        r"^em\b.+\bescreveu:$",  # Portuguese
        r"^op\b.+\bschreef\b.*:$",  # Dutch
        r"^(den|på)\b.+\bskrev\b.*:$",  # Swedish, Danish, Norwegian
        r"^(w dniu|dnia)\b.+\bnapisał(a|\(a\))?:$",  # Polish
        r"^.+\bпишет:$",  # noqa: RUF001 - Russian, Cyrillic on purpose
    )
]
_ORIGINAL_MESSAGE = re.compile(
    r"^-{2,}\s*(original message|ursprüngliche nachricht|message d'origine|mensaje original"
    r"|messaggio originale|oorspronkelijk bericht|mensagem original|ursprungligt meddelande)"
    r"\s*-{2,}$",
    re.IGNORECASE,
)
_FORWARDED = re.compile(r"^-{2,}\s*(forwarded message|begin forwarded message)", re.IGNORECASE)
# An Outlook quote block: "From:" (in the client's language) followed by Sent/Date/To/Subject.
_BLOCK_FROM = re.compile(r"^\*?(from|von|de|da|van|från|fra|od)\s?:\*?\s", re.IGNORECASE)
_BLOCK_NEXT = re.compile(
    r"^\*?(sent|date|to|subject|cc|gesendet|datum|an|betreff|envoyé|à|objet|enviado|fecha"
    r"|para|asunto|inviato|data|oggetto|verzonden|aan|onderwerp|skickat|till|ämne)\s?:",
    re.IGNORECASE,
)
_SEPARATOR = re.compile(r"^[-_=]{5,}$")


def _is_reply_header(line: str) -> bool:
    return any(pattern.match(line) for pattern in _REPLY_HEADERS)


def _starts_quote(lines: Sequence[str], index: int) -> bool:
    """Does the quoted original (not the customer's own words) begin at this line?"""
    line = lines[index].strip()
    following = lines[index + 1].strip() if index + 1 < len(lines) else ""
    if line == "--":  # "-- " (RFC 3676), often with its trailing space trimmed
        return True
    if _ORIGINAL_MESSAGE.match(line) or _is_reply_header(line):
        return True
    # Clients wrap a long "On ... <address>\nwrote:" over two lines.
    if following and _is_reply_header(f"{line} {following}") and not _is_reply_header(following):
        return True
    if _BLOCK_FROM.match(line):
        window = [candidate.strip() for candidate in lines[index + 1 : index + 5]]
        return any(_BLOCK_NEXT.match(candidate) for candidate in window)
    return False


def strip_quoted_reply(text: str) -> str:
    """The customer's own words: quoted lines, the quoted original and the signature removed.

    Quoted lines (`>`) are dropped wherever they are, so inline answers between quotes stay.
    Everything from the first reply header ("On ... wrote:" and its translations), Outlook
    "-----Original Message-----" or "From:/Sent:" block, or signature delimiter "-- " is cut.
    A forwarded message is kept whole. When nothing would be left, the text is kept as is.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    for index, line in enumerate(lines):
        if _FORWARDED.match(line.strip()):
            kept.extend(lines[index:])
            break
        if line.lstrip().startswith(">"):
            continue
        if _starts_quote(lines, index):
            break
        kept.append(line)
    while kept and (not kept[-1].strip() or _SEPARATOR.match(kept[-1].strip())):
        kept.pop()
    stripped = "\n".join(line.rstrip() for line in kept).strip("\n")
    return stripped if stripped.strip() else text.strip()


class _TextOfHtml(HTMLParser):
    _BLOCKS = frozenset({"br", "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "blockquote"})
    _HIDDEN = frozenset({"script", "style", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._HIDDEN:
            self.hidden += 1
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)  # `<br/>` is one line break, not two

    def handle_endtag(self, tag: str) -> None:
        if tag in self._HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    """Readable text of an HTML-only email (the agent console shows text)."""
    parser = _TextOfHtml()
    parser.feed(html)
    parser.close()
    lines = (line.strip() for line in "".join(parser.parts).split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
