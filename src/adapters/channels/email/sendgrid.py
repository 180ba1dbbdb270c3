"""SendGrid Inbound Parse: multipart/form-data in "parsed" or "raw" (Send Raw) mode.

Parsed mode posts the email's parts as fields (`from`, `to`, `subject`, `text`, `html`, the
raw `headers` block, `envelope` and `charsets` as JSON, files `attachment1..N` described by
`attachment-info`); raw mode posts the whole MIME message in the field `email`. SendGrid does
not sign Inbound Parse posts, so the URL configured in SendGrid carries Basic auth
credentials whose password is ROUTER_SENDGRID_INBOUND_TOKEN.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from adapters.channels.email.automated import described_sender, sender_of
from adapters.channels.email.mime import (
    FormData,
    email_from_message,
    form_automation,
    header,
    parse_form,
    parse_header_block,
    parse_message,
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
    parse_big_off_loop,
    problem_responses,
    publish,
    read_body,
    require_media_type,
    require_secret,
    settings_of,
    verify_basic_auth,
)
from router.errors import InvalidPayload
from router.inbound.envelope import Attachment

router = APIRouter(tags=["webhooks"])


@router.post(
    "/webhooks/email/sendgrid",
    operation_id="webhook_sendgrid_inbound",
    summary="SendGrid Inbound Parse (parsed or raw mode)",
    response_class=Response,
    responses={
        200: {"description": "The email is durably taken; the body is empty"},
        **problem_responses(401, 413, 415, 422, 503),
    },
)
async def sendgrid_inbound(request: Request) -> Response:
    """Take one inbound email from SendGrid; any non-2xx answer makes SendGrid retry."""
    settings = settings_of(request)
    token = require_secret(settings.sendgrid_inbound_token, "ROUTER_SENDGRID_INBOUND_TOKEN")
    verify_basic_auth(request, token)
    require_media_type(request, "multipart/form-data")
    body = await read_body(request, settings.email_max_body_bytes)
    form = parse_form(body, request.headers.get("content-type", ""))
    # The standard library needs about a second for a whole 25 MiB MIME message (raw mode).
    email = await parse_big_off_loop(sendgrid_email, form, len(body))
    await keep_email_parts(request, email)
    await publish(request, [inbound_message("sendgrid", email)])
    return Response(status_code=200)


def sendgrid_email(form: FormData) -> ParsedEmail:
    """The facts of a SendGrid Inbound Parse post, in either mode."""
    charsets = _object(form, "charsets")
    envelope = _object(form, "envelope")
    envelope_to = envelope.get("to")
    recipients = [
        value
        for value in (envelope_to if isinstance(envelope_to, list) else [envelope_to])
        if isinstance(value, str)
    ]

    def text(name: str) -> str | None:
        charset = charsets.get(name)
        return form.text(name, charset if isinstance(charset, str) else "utf-8")

    envelope_from = envelope.get("from")
    # SendGrid writes a null reverse path as null or as nothing at all.
    envelope_sender = envelope_from if isinstance(envelope_from, str) else None
    if "from" in envelope and envelope_from is None:
        envelope_sender = ""
    raw = form.fields.get("email")
    if raw is not None:
        email = email_from_message(
            parse_message(raw), "email", [*recipients, text("to")], envelope_sender
        )
        email.metadata["mode"] = "raw"
    else:
        headers = parse_header_block(text("headers") or "")

        def lookup(name: str) -> str | None:
            return header(headers, name)

        email = ParsedEmail(
            sender=sender_of(lookup, first=[text("from")], envelope_sender=envelope_sender),
            sender_text=described_sender(text("from") or lookup("From")),
            recipient=recipient_address([*recipients, text("to")], "to"),
            subject=text("subject"),
            text=text("text") or "",
            html=text("html") or "",
            thread=Threading.from_headers(lookup),
            date=parse_date(lookup("Date")),
            attachments=_attachments(form),
            contents=[file.data for file in form.files],
            metadata={"mode": "parsed"},
        )
        form_automation(email, form, lookup, envelope_sender)
    spam_score = text("spam_score")
    if spam_score:
        email.metadata["spam_score"] = spam_score.strip()[:20]
    return email


def _object(form: FormData, name: str) -> dict[str, object]:
    value = form.json(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidPayload(f"{name}: not a JSON object", field=name)
    return value


def _attachments(form: FormData) -> list[Attachment]:
    """The posted files, named and typed by `attachment-info` where the part is silent."""
    info = _object(form, "attachment-info")
    found: list[Attachment] = []
    for file in form.files:
        described = info.get(file.field)
        details = described if isinstance(described, dict) else {}
        filename = file.filename or details.get("filename") or details.get("name")
        # The part's own type is often a generic octet-stream; the info has the email's.
        content_type = details.get("type") or file.content_type
        found.append(
            attachment(
                filename if isinstance(filename, str) else None,
                content_type if isinstance(content_type, str) else None,
                file.size,
            )
        )
    return found
