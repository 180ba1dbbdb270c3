"""Mailgun routes: the forward() and store(notify=...) posts of a received email.

The post is form-urlencoded, or multipart/form-data when files are attached (`attachment-1`
..`attachment-N`). Mailgun signs three fields of the body: `signature` is the hex
HMAC-SHA256 of `timestamp + token` under the webhook signing key. A timestamp outside the
replay window is refused. Tokens are remembered in PostgreSQL for the window, with a digest
of the post: Mailgun's retry of the same post is taken again (the message id de-duplicates
it downstream), the same token with another post is refused as a replay. Besides the parsed fields
(`from`, `recipient`, `subject`, `body-plain`, `stripped-text`, `body-html`), every header is
posted as a field of its own (`Message-Id`, `In-Reply-To`, `References`) and again in
`message-headers`, a JSON list of [name, value] pairs. A route whose URL ends in "mime"
gets the whole message in `body-mime` instead; a store() notification describes the stored
files in `attachments` (JSON) with URLs instead of posting them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Request, Response

from adapters.channels.email.automated import described_sender, sender_of
from adapters.channels.email.mime import (
    FormData,
    email_from_message,
    form_automation,
    parse_form,
    parse_message,
)
from adapters.channels.email.parsing import (
    ParsedEmail,
    Threading,
    attachment,
    decode_header_text,
    inbound_message,
    parse_date,
    recipient_address,
)
from adapters.channels.email.parts import keep_email_parts
from adapters.channels.webhook import (
    check_fresh,
    hmac_hex,
    parse_big_off_loop,
    problem_responses,
    publish,
    read_body,
    require_media_type,
    require_secret,
    router_state,
    settings_of,
    verify_equal,
)
from router.errors import InvalidPayload, StaleRequest
from router.inbound.envelope import Attachment
from router.inbound.replay import TokenClaim, claim_token

router = APIRouter(tags=["webhooks"])


@router.post(
    "/webhooks/email/mailgun",
    operation_id="webhook_mailgun_inbound",
    summary="Mailgun route (forward or store notification)",
    response_class=Response,
    responses={
        200: {"description": "The email is durably taken; the body is empty"},
        **problem_responses(401, 413, 415, 422, 503),
    },
)
async def mailgun_inbound(request: Request) -> Response:
    """Take one inbound email from a Mailgun route; a non-2xx answer makes Mailgun retry."""
    settings = settings_of(request)
    key = require_secret(settings.mailgun_signing_key, "ROUTER_MAILGUN_SIGNING_KEY")
    require_media_type(request, "application/x-www-form-urlencoded", "multipart/form-data")
    body = await read_body(request, settings.email_max_body_bytes)
    # Mailgun's signature travels inside the body, so the form is parsed before verifying.
    form = parse_form(body, request.headers.get("content-type", ""))
    timestamp, token = form.text("timestamp") or "", form.text("token") or ""
    verify_equal(hmac_hex(key, (timestamp + token).encode()), form.text("signature"), "signature")
    signed_at = check_fresh(timestamp, settings.replay_window_seconds)
    # A `body-mime` post holds a whole message, slow to parse when big.
    email = await parse_big_off_loop(mailgun_email, form, len(body))
    message = inbound_message("mailgun", email)
    now = datetime.now(UTC)
    claim = await claim_token(
        router_state(request).engine,
        "mailgun",
        # Mailgun's tokens are 50 characters; an absurd one is remembered by its digest.
        token if len(token) <= 200 else "sha256:" + hashlib.sha256(token.encode()).hexdigest(),
        form_digest(form),
        now=now,
        expires_at=datetime.fromtimestamp(signed_at, UTC)
        + timedelta(seconds=settings.replay_window_seconds),
    )
    if claim is TokenClaim.REPLAY:
        raise StaleRequest("this token was already used within the replay window for another post")
    if await keep_email_parts(request, email):
        message = message.model_copy(update={"attachments": tuple(email.attachments)})
    await publish(request, [message])
    return Response(status_code=200)


def form_digest(form: FormData) -> bytes:
    """SHA-256 of a post's content: its fields and its files' names, types and sizes.

    Over the content rather than the bytes, so a retry that encodes the same post afresh
    (another multipart boundary) is still the same post.
    """
    digest = hashlib.sha256()
    for name in sorted(form.fields):
        value = form.fields[name]
        digest.update(b"%d:%s%d:" % (len(name), name.encode(), len(value)))
        digest.update(value)
    for file in sorted(form.files, key=lambda f: (f.field, f.filename or "")):
        described = f"{file.field}\x00{file.filename}\x00{file.content_type}\x00{file.size}"
        digest.update(b"file:" + described.encode())
    return digest.digest()


def mailgun_email(form: FormData) -> ParsedEmail:
    """The facts of a Mailgun route post: parsed fields, or the whole message (`body-mime`)."""
    recipient = form.text("recipient")
    envelope_sender = form.text("sender")
    raw = form.fields.get("body-mime")
    if raw is not None:
        email = email_from_message(parse_message(raw), "body-mime", [recipient], envelope_sender)
        email.metadata["mode"] = "mime"
        return email
    lookup = _header_lookup(form)
    email = ParsedEmail(
        sender=sender_of(lookup, first=[form.text("from")], envelope_sender=envelope_sender),
        sender_text=described_sender(form.text("from") or lookup("From")),
        recipient=recipient_address([recipient, lookup("To")], "recipient"),
        subject=form.text("subject") or decode_header_text(lookup("Subject")),
        text=form.text("body-plain") or "",
        html=form.text("body-html") or "",
        provider_stripped_text=form.text("stripped-text") or "",
        thread=Threading.from_headers(lookup),
        date=parse_date(lookup("Date")),
        attachments=[
            *(attachment(f.filename, f.content_type, f.size) for f in form.files),
            *_stored_attachments(form),
        ],
        contents=[f.data for f in form.files],
        metadata={"mode": "store" if "message-url" in form.fields else "forward"},
    )
    return form_automation(email, form, lookup, envelope_sender)


def _header_lookup(form: FormData) -> Callable[[str], str | None]:
    """Headers by name, case-insensitively: `message-headers` first, then the header fields."""
    headers: dict[str, str] = {}
    listed = form.json("message-headers")
    if listed is not None:
        if not isinstance(listed, list):
            raise InvalidPayload("message-headers: not a JSON list", field="message-headers")
        for index, pair in enumerate(listed):
            if not (
                isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)
            ):
                where = f"message-headers[{index}]"
                raise InvalidPayload(f"{where}: not a [name, value] pair", field=where)
            headers.setdefault(pair[0].lower(), pair[1])
    fields: dict[str, str] = {}
    for name in form.fields:
        fields.setdefault(name.lower(), name)

    def lookup(name: str) -> str | None:
        wanted = name.lower()
        if wanted in headers:
            return headers[wanted]
        return form.text(fields[wanted]) if wanted in fields else None

    return lookup


def _stored_attachments(form: FormData) -> list[Attachment]:
    """A store() notification's `attachments`: JSON metadata with a URL per stored file."""
    listed = form.json("attachments")
    if listed is None:
        return []
    if not isinstance(listed, list):
        raise InvalidPayload("attachments: not a JSON list", field="attachments")
    found: list[Attachment] = []
    for index, item in enumerate(listed):
        if not isinstance(item, dict):
            raise InvalidPayload(f"attachments[{index}]: not an object", field="attachments")
        name, kind, size, url = (item.get(key) for key in ("name", "content-type", "size", "url"))
        found.append(
            attachment(
                name if isinstance(name, str) else None,
                kind if isinstance(kind, str) else None,
                size if isinstance(size, int) and not isinstance(size, bool) else None,
                url if isinstance(url, str) else None,
            )
        )
    return found
