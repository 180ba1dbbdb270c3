"""Mail the router sends by itself, and the one rule every such sender obeys (RFC 3834).

A message no person wrote (an acknowledgement, a survey, a notice) carries `Auto-Submitted`
(`auto-replied` when it answers a message, `auto-generated` otherwise), and is never sent in
answer to an auto-reply or a bounce, nor to a sender without an address: two automatic
responders answering each other would loop for ever. Agents' replies are a person's and
carry no such header.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class AutoSubmitted(StrEnum):
    """The `Auto-Submitted` value of a message the router sends by itself."""

    AUTO_REPLIED = "auto-replied"
    AUTO_GENERATED = "auto-generated"


def may_answer_automatically(inbound_details: Mapping[str, object]) -> bool:
    """Whether an automatic message may answer this stored inbound message.

    Never an auto-reply or a bounce (marked `automated` by the email adapters), and never a
    sender known only by a message id (`sender_identity: message-id`, no address).
    """
    if inbound_details.get("automated"):
        return False
    return inbound_details.get("sender_identity") != "message-id"


def automatic_details(answering: bool) -> dict[str, str]:
    """What an automatic outbound message's `details` hold for the sender to mark it."""
    kind = AutoSubmitted.AUTO_REPLIED if answering else AutoSubmitted.AUTO_GENERATED
    return {"auto_submitted": kind.value}
