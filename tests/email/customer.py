"""The customer's side of an email thread: a mail program answering what we sent, and the
provider that receives its mail and posts it to the router, signed as that provider signs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from tests.adapters.conftest import SECRETS
from tests.adapters.email_requests import basic_auth, mailgun_forward, mailgun_signed, multipart
from tests.adapters.payloads import payload
from tests.console.mail_servers import SentMail

CUSTOMER = "maria@example.net"
SUPPORT = "support@shop.example"


@dataclass(frozen=True)
class CustomerMail:
    """What the customer's mail program writes."""

    message_id: str  # bracketed, as in the header
    subject: str
    text: str
    in_reply_to: str | None = None
    references: str | None = None

    def headers(self) -> list[tuple[str, str]]:
        found = [
            ("From", f"Maria Lopez <{CUSTOMER}>"),
            ("To", SUPPORT),
            ("Subject", self.subject),
            ("Date", "Wed, 02 Dec 2026 09:00:00 +0000"),
            ("Message-ID", self.message_id),
        ]
        if self.in_reply_to:
            found.append(("In-Reply-To", self.in_reply_to))
        if self.references:
            found.append(("References", self.references))
        return found


def answering(
    sent: SentMail, message_id: str, text: str, subject: str | None = None
) -> CustomerMail:
    """The customer's answer to mail we sent, as a mail program threads it (RFC 5322 3.6.4)."""
    ours = sent.headers["Message-ID"]
    parent = sent.headers.get("References") or sent.headers.get("In-Reply-To") or ""
    references = " ".join(part for part in (" ".join(parent.split()), ours) if part)
    return CustomerMail(
        message_id=message_id,
        subject=subject or sent.headers["Subject"],
        text=text,
        in_reply_to=ours,
        references=references,
    )


async def post_sendgrid(client: httpx.AsyncClient, mail: CustomerMail) -> httpx.Response:
    block = "".join(f"{name}: {value}\n" for name, value in mail.headers())
    body, content_type = multipart(
        [
            ("headers", block),
            ("from", f"Maria Lopez <{CUSTOMER}>"),
            ("to", SUPPORT),
            ("subject", mail.subject),
            ("text", mail.text),
            ("envelope", json.dumps({"to": [SUPPORT], "from": CUSTOMER})),
            ("charsets", json.dumps({"to": "UTF-8", "subject": "UTF-8", "text": "UTF-8"})),
        ]
    )
    auth = basic_auth(SECRETS["sendgrid_inbound_token"])
    return await client.post(
        "/webhooks/email/sendgrid", content=body, headers={"Content-Type": content_type, **auth}
    )


async def post_mailgun(client: httpx.AsyncClient, mail: CustomerMail) -> httpx.Response:
    headers = dict(mail.headers())
    fields = mailgun_forward(
        recipient=SUPPORT,
        sender=CUSTOMER,
        **{"from": f"Maria Lopez <{CUSTOMER}>"},
        subject=mail.subject,
        **{
            "body-plain": mail.text,
            "stripped-text": mail.text,
            "body-html": "<absent>",
            "stripped-html": "<absent>",
            "message-headers": json.dumps([list(pair) for pair in mail.headers()]),
            "Message-Id": headers["Message-ID"],
            "In-Reply-To": headers.get("In-Reply-To", "<absent>"),
            "References": headers.get("References", "<absent>"),
        },
    )
    return await client.post(
        "/webhooks/email/mailgun",
        content=urlencode(mailgun_signed(fields)),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


async def post_postmark(client: httpx.AsyncClient, mail: CustomerMail) -> httpx.Response:
    document: dict[str, Any] = payload("postmark_inbound.json").document()
    headers = mail.headers()
    document.update(
        FromName="Maria Lopez",
        From=CUSTOMER,
        FromFull={"Email": CUSTOMER, "Name": "Maria Lopez", "MailboxHash": ""},
        To=SUPPORT,
        ToFull=[{"Email": SUPPORT, "Name": "", "MailboxHash": ""}],
        OriginalRecipient=SUPPORT,
        MailboxHash="",
        Subject=mail.subject,
        MessageID=mail.message_id.strip("<>").replace("@", "-").replace(".", "-")[:36],
        TextBody=mail.text,
        HtmlBody="",
        StrippedTextReply=mail.text,
        Headers=[{"Name": name, "Value": value} for name, value in headers[3:]],
        Attachments=[],
    )
    auth = basic_auth(SECRETS["postmark_inbound_token"])
    return await client.post(
        "/webhooks/email/postmark",
        content=json.dumps(document).encode(),
        headers={"Content-Type": "application/json", **auth},
    )
