"""A reply that ends `failed` is seen: a `reply_failed` history event, and its owner woken.

Whoever finds out (the dispatcher when the provider refuses the reply, the routing engine
when a provider's status callback says it was not delivered) records the same thing: one
`reply_failed` event per reply, naming the provider, the HTTP status it answered and its
error text with secrets masked, and one more on the conversation's `failed_replies`. That
change of the conversation row is what wakes its owner's long-poll.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import cast

from pydantic import SecretStr
from sqlalchemy import Table, bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession

from router.conversations.history import Change, Journal
from router.masking import MASK, mask_url
from router.models import Conversation
from router.settings import Settings

# A URL in an error text; closing brackets and quotes around it are the text's, not the URL's.
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>()\[\]]+")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
# Shorter values would mask ordinary words of an error text.
_SHORTEST_SECRET = 6


@dataclass(frozen=True)
class ReplyFailure:
    """One reply that ended failed, and what the provider answered."""

    message_id: uuid.UUID
    conversation_id: uuid.UUID
    provider: str
    error: str
    status_code: int | None = None
    attempts: int | None = None


def configured_secrets(settings: Settings) -> tuple[str, ...]:
    """Every secret value in the settings, longest first, to mask in provider answers."""
    values = {
        value.get_secret_value()
        for name in type(settings).model_fields
        if isinstance(value := getattr(settings, name), SecretStr)
    }
    usable = (value for value in values if len(value) >= _SHORTEST_SECRET)
    return tuple(sorted(usable, key=len, reverse=True))


def masked(text: str, secrets: Iterable[str]) -> str:
    """The text with known secrets, credentials in URLs and bearer tokens hidden."""
    for secret in secrets:
        text = text.replace(secret, MASK)
    text = _BEARER.sub(lambda found: f"{found.group(1)} {MASK}", text)
    return _URL.sub(lambda found: mask_url(found.group(0)), text)


async def record_failures(
    session: AsyncSession, journal: Journal, failures: Sequence[ReplyFailure]
) -> None:
    """Append a `reply_failed` event per reply and count them on their conversations.

    Runs in the caller's transaction, which also marked the replies failed; the caller
    flushes the journal.
    """
    if not failures:
        return
    for failure in failures:
        details: dict[str, object] = {
            "message_id": str(failure.message_id),
            "provider": failure.provider,
            "status_code": failure.status_code,
            "error": failure.error,
        }
        if failure.attempts is not None:
            details["attempts"] = failure.attempts
        journal.record(
            failure.conversation_id,
            Change.REPLY_FAILED,
            f"reply not delivered: {failure.error}",
            details=details,
        )
    counts = Counter(failure.conversation_id for failure in failures)
    table = cast(Table, Conversation.__table__)
    await session.execute(
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values(failed_replies=table.c.failed_replies + bindparam("b_count")),
        [{"b_id": cid, "b_count": count} for cid, count in sorted(counts.items())],
    )
