"""How an email reply sits in its thread: message ids, In-Reply-To, References and Subject.

One canonical form for a message id everywhere the router keeps or compares one: the
addr-spec without angle brackets or whitespace, lower-cased (`abc@host`). The inbound parsers
write it, the stored messages hold it, and only an outbound sender puts the brackets back, at
the edge, when it writes the headers (RFC 5322 3.6.4: `<abc@host>`).

A reply's `In-Reply-To` is the message it answers; its `References` are that message's
References (or, lacking them, its In-Reply-To) followed by its own id, so the customer's mail
program, and the router when the customer answers, find the whole thread from its first
message. References never grow without bound: the middle is trimmed (RFC 5322 3.6.4 allows
it), keeping the first id, on which the router keys the thread, and the latest ones.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# The first id names the thread; the latest ones let mail programs place the reply. Bounded in
# count and in length, so even unfolded the header stays far below RFC 5322's 998 characters.
MAX_REFERENCES = 12
MAX_REFERENCES_CHARS = 900

_BRACKETED = re.compile(r"<([^<>\s]*)>")
# `Re:`, `RE :`, `Re[2]:` at the start of a subject, however many times repeated.
_REPLY_PREFIX = re.compile(r"^(?:\s*re\s*(?:\[\d+\])?\s*:)+\s*", re.IGNORECASE)


def canonical_message_id(raw: str | None) -> str | None:
    """`<ABC@Host>` or `abc@host ` -> `abc@host`; None when nothing is left."""
    if raw is None:
        return None
    text = raw.strip()
    found = _BRACKETED.search(text)
    if found is not None:
        text = found.group(1)
    text = "".join(text.split()).strip("<>").lower()
    return text or None


def canonical_message_ids(raw: Iterable[str]) -> list[str]:
    """Each id in canonical form, in order, the empty ones and repeats left out."""
    found = (canonical_message_id(value) for value in raw)
    return list(dict.fromkeys(value for value in found if value))


def bracketed(message_id: str) -> str:
    """A canonical id as written in a header: `<abc@host>`."""
    return f"<{canonical_message_id(message_id) or message_id}>"


def header_ids(ids: Sequence[str]) -> str:
    """Ids as a References or In-Reply-To value: bracketed, one space apart.

    Senders that write the MIME themselves fold it at these spaces; the providers' APIs fold
    what they are given.
    """
    return " ".join(bracketed(value) for value in ids)


def trimmed_references(ids: Sequence[str]) -> list[str]:
    """The first id and as many of the latest as fit `MAX_REFERENCES` and the length bound."""
    if not ids:
        return []
    first, rest = ids[0], list(ids[1:])
    kept: list[str] = []
    length = len(first) + 2
    for value in reversed(rest):
        cost = len(value) + 3  # brackets and the space before it
        if len(kept) + 1 >= MAX_REFERENCES or length + cost > MAX_REFERENCES_CHARS:
            break
        kept.append(value)
        length += cost
    return [first, *reversed(kept)]


@dataclass(frozen=True)
class ReplyThread:
    """The ids a reply carries, canonical: the message it answers and the thread before it."""

    in_reply_to: str | None
    references: tuple[str, ...]


def reply_thread(parent_id: str | None, parent_references: Iterable[str]) -> ReplyThread:
    """Where a reply to the parent sits: In-Reply-To the parent, References its thread + it.

    `parent_references` is what the parent said it answers (its References, then its
    In-Reply-To), in any form; the result is canonical, without repeats, trimmed.
    """
    parent = canonical_message_id(parent_id)
    ids = canonical_message_ids([*parent_references, *([parent] if parent else [])])
    if parent is not None:
        # The parent's own id is always the last reference, whatever it listed.
        ids = [value for value in ids if value != parent] + [parent]
    return ReplyThread(in_reply_to=parent, references=tuple(trimmed_references(ids)))


def reply_subject(subject: str | None) -> str:
    """The customer's subject with one `Re: ` in front (never `Re: Re:`)."""
    rest = _REPLY_PREFIX.sub("", subject or "").strip()
    return f"Re: {rest}" if rest else "Re: your message"


def outbound_message_id(message_id: uuid.UUID, sender: str, domain: str | None = None) -> str:
    """Our own Message-ID for a message row, canonical: `<row id>@<domain>`.

    The domain is the configured one, else the sending address's. Every sender writes this
    id, so the customer's answer finds the thread whichever provider carried the mail, and a
    bounce that returns it names the row.
    """
    host = (domain or sender.rpartition("@")[2]).strip(" <>").lower() or "router.invalid"
    return f"{message_id}@{host}"
