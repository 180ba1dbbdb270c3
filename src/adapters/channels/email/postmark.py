"""Postmark inbound webhook: the parsed email as one JSON document.

Postmark does not sign its webhooks; the URL configured in Postmark carries Basic auth
credentials whose password is ROUTER_POSTMARK_INBOUND_TOKEN. The threading headers live in
`Headers` (a list of Name/Value pairs); `MessageID` is Postmark's own id of the email, the
de-duplication key. Attachment content arrives base64-encoded; it is decoded and written to
the blob store before the event is published.
"""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, StringConstraints

from adapters.channels.email.automated import (
    described_sender,
    mark_automated,
    media_type,
    sender_of,
)
from adapters.channels.email.parsing import (
    ParsedEmail,
    Threading,
    attachment,
    inbound_message,
    parse_date,
    recipient_address,
)
from adapters.channels.email.parts import keep_email_parts
from adapters.channels.webhook import (
    json_body,
    problem_responses,
    publish,
    read_body,
    require_media_type,
    require_secret,
    settings_of,
    verify_basic_auth,
)

router = APIRouter(tags=["webhooks"])

# The first 64 KiB of a report part (base64 grows by a third) hold what is read of it.
_MAX_REPORT_BASE64 = 64 * 1024 // 3 * 4  # a whole number of 4-character groups


class _Model(BaseModel):
    # Postmark adds fields over time; only the ones read here are validated.
    model_config = ConfigDict(extra="ignore", frozen=True)


class PostmarkAddress(_Model):
    Email: str | None = None
    Name: str | None = None
    MailboxHash: str | None = None


class PostmarkHeader(_Model):
    Name: str
    Value: str | None = None


class PostmarkAttachment(_Model):
    Name: str | None = None
    ContentType: str | None = None
    ContentLength: int | None = None
    # Base64: the file's bytes (and, for a bounce, its report parts).
    Content: str | None = None


class PostmarkInbound(_Model):
    """The fields of Postmark's inbound webhook the router reads."""

    MessageID: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)
    ]
    From: str | None = None
    FromFull: PostmarkAddress | None = None
    To: str | None = None
    ToFull: list[PostmarkAddress] | None = None
    OriginalRecipient: str | None = None
    Subject: str | None = None
    Date: str | None = None
    TextBody: str | None = None
    HtmlBody: str | None = None
    StrippedTextReply: str | None = None
    MailboxHash: str | None = None
    ReplyTo: str | None = None
    Headers: list[PostmarkHeader] | None = None
    Attachments: list[PostmarkAttachment] | None = None


@router.post(
    "/webhooks/email/postmark",
    operation_id="webhook_postmark_inbound",
    summary="Postmark inbound webhook",
    response_class=Response,
    responses={
        200: {"description": "The email is durably taken; the body is empty"},
        **problem_responses(401, 413, 415, 422, 503),
    },
)
async def postmark_inbound(request: Request) -> Response:
    """Take one inbound email from Postmark; any non-200 answer makes Postmark retry."""
    settings = settings_of(request)
    token = require_secret(settings.postmark_inbound_token, "ROUTER_POSTMARK_INBOUND_TOKEN")
    verify_basic_auth(request, token)
    require_media_type(request, "application/json")
    body = await read_body(request, settings.email_max_body_bytes)
    payload = json_body(PostmarkInbound, body)
    email = postmark_email(payload)
    await keep_email_parts(request, email)
    message = inbound_message("postmark", email, provider_message_id=payload.MessageID.lower())
    await publish(request, [message])
    return Response(status_code=200)


def postmark_email(payload: PostmarkInbound) -> ParsedEmail:
    """The facts of a Postmark inbound document."""
    headers: dict[str, str] = {}
    for item in payload.Headers or ():
        headers.setdefault(item.Name.lower(), item.Value or "")
    full = payload.FromFull

    def lookup(name: str) -> str | None:
        return headers.get(name.lower())

    parsed_from = [full.Email if full is not None else None, payload.From, payload.ReplyTo]
    sender = sender_of(lookup, first=parsed_from)
    if sender is not None and full is not None and sender.address == (full.Email or "").lower():
        sender = sender.named(full.Name)
    to_full = [address.Email for address in payload.ToFull or ()]
    metadata = {"mailbox_hash": payload.MailboxHash} if payload.MailboxHash else {}
    email = ParsedEmail(
        sender=sender,
        sender_text=(full.Name if full is not None else None) or described_sender(payload.From),
        recipient=recipient_address([payload.OriginalRecipient, *to_full, payload.To], "ToFull"),
        subject=payload.Subject,
        text=payload.TextBody or "",
        html=payload.HtmlBody or "",
        provider_stripped_text=payload.StrippedTextReply or "",
        thread=Threading.from_headers(lookup),
        date=parse_date(payload.Date),
        attachments=[
            attachment(item.Name, item.ContentType, item.ContentLength)
            for item in payload.Attachments or ()
        ],
        contents=[_file(item) for item in payload.Attachments or ()],
        metadata=metadata,
    )
    files = [(media_type(item.ContentType), item) for item in payload.Attachments or ()]
    return mark_automated(
        email, lookup, lookup("Return-Path"), files, _content, email.text or email.html
    )


def _file(item: PostmarkAttachment) -> bytes | None:
    """The attachment's bytes; None when Postmark sent none (or nothing decodable)."""
    if not item.Content:
        return None
    try:
        return base64.b64decode(item.Content)
    except ValueError:
        return None


def _content(item: PostmarkAttachment) -> str:
    try:
        return base64.b64decode((item.Content or "")[:_MAX_REPORT_BASE64]).decode(
            "utf-8", errors="replace"
        )
    except ValueError:
        return ""
