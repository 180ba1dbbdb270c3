"""An email's attached files, written to the blob store before its event is published."""

from __future__ import annotations

from fastapi import Request

from adapters.channels.email.parsing import ParsedEmail
from adapters.channels.webhook import router_state
from router.attachments.intake import keep_parts


async def keep_email_parts(request: Request, email: ParsedEmail) -> bool:
    """Store the parts whose bytes came in the post; refused ones stay metadata with why.

    Returns whether any part had bytes (and so whether `email.attachments` changed).
    """
    if not any(content is not None for content in email.contents):
        return False
    state = router_state(request)
    email.attachments = await keep_parts(
        state.blobs, state.settings.attachment_rules(), email.attachments, email.contents
    )
    return True
