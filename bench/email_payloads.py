"""Inbound email as SendGrid Inbound Parse, Mailgun routes and Postmark post it.

A new thread is a first email from a new customer (its Message-ID is the thread's root); a
follow-up is a reply that names the root in `In-Reply-To`/`References`, so it joins the
conversation the first email opened.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import urlencode

from bench.provider_requests import Builder, Customers, Thread, Webhook, basic_auth, compact

_SUPPORT = "support@parse.example.com"


def _thread(traffic: Customers, source: str, follow: Thread | None) -> tuple[Thread, str, bool]:
    """(thread, this email's Message-ID, whether it opens the thread)."""
    message_id = f"{traffic.uid()}@mail.example.net"
    if follow is not None:
        return follow, message_id, False
    address = f"customer.{traffic.uid()}@example.net"
    return traffic.new_thread(source, address, message_id), message_id, True


def sendgrid(traffic: Customers, follow: Thread | None) -> Webhook:
    """Inbound Parse in parsed mode: multipart fields, basic auth in the URL."""
    thread, message_id, opens = _thread(traffic, "sendgrid", follow)
    threading = "" if opens else f"In-Reply-To: <{thread.root}>\nReferences: <{thread.root}>\n"
    subject = "Where is my order?" if opens else "Re: Where is my order?"
    text = traffic.text()
    envelope = json.dumps({"to": [_SUPPORT], "from": thread.customer}, separators=(",", ":"))
    fields = [
        (
            "headers",
            f"Received: by mx.sendgrid.net with SMTP id 6WCVv7KAWn\nFrom: {thread.name} "
            f"<{thread.customer}>\nTo: {_SUPPORT}\nSubject: {subject}\n"
            f"Date: {format_datetime(datetime.now(UTC))}\nMessage-ID: <{message_id}>\n"
            f"{threading}MIME-Version: 1.0\n",
        ),
        ("dkim", "{@example.net : pass}"),
        ("to", _SUPPORT),
        ("html", f'<div dir="ltr">{text}<br></div>\n'),
        ("from", f"{thread.name} <{thread.customer}>"),
        ("text", f"{text}\n\nOn Mon, Example Store <orders@example.com> wrote:\n> Shipped.\n"),
        ("sender_ip", "209.85.218.46"),
        ("envelope", envelope),
        ("attachments", "0"),
        ("subject", subject),
        ("spam_score", "0.1"),
        ("charsets", '{"to":"UTF-8","html":"UTF-8","subject":"UTF-8","from":"UTF-8"}'),
        ("SPF", "pass"),
    ]
    boundary = "xYzZY"
    body = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields
    )
    body += f"--{boundary}--\r\n"
    headers = (
        ("Content-Type", f"multipart/form-data; boundary={boundary}"),
        basic_auth(traffic.secrets.sendgrid),
    )
    return Webhook(
        "sendgrid",
        "/webhooks/email/sendgrid",
        headers,
        body.encode(),
        ("sendgrid", message_id),
        opens,
    )


def mailgun(traffic: Customers, follow: Thread | None) -> Webhook:
    """A route's forward() post: form fields, signed timestamp and token in the body."""
    thread, message_id, opens = _thread(traffic, "mailgun", follow)
    subject = "Question about my invoice" if opens else "Re: Question about my invoice"
    listed = [
        ["Received", "from mail.example.net by mxa.mailgun.org with ESMTP"],
        ["From", f"{thread.name} <{thread.customer}>"],
        ["To", "Support <support@mg.example.com>"],
        ["Subject", subject],
        ["Date", format_datetime(datetime.now(UTC))],
        ["Message-Id", f"<{message_id}>"],
    ]
    if not opens:
        listed += [["In-Reply-To", f"<{thread.root}>"], ["References", f"<{thread.root}>"]]
    text = traffic.text()
    stamp, token = str(int(time.time())), f"{traffic.rng.getrandbits(200):050x}"
    signature = hmac.new(
        traffic.secrets.mailgun.encode(), (stamp + token).encode(), hashlib.sha256
    ).hexdigest()
    fields = {
        "recipient": "support@mg.example.com",
        "sender": thread.customer,
        "from": f"{thread.name} <{thread.customer}>",
        "subject": subject,
        "body-plain": f"{text}\n\nOn Mon, Store <s@mg.example.com> wrote:\n> Earlier\n",
        "stripped-text": text,
        "stripped-signature": "",
        "body-html": f"<p>{text}</p>",
        "stripped-html": f"<p>{text}</p>",
        "attachment-count": "0",
        "message-headers": json.dumps(listed),
        "Message-Id": f"<{message_id}>",
        "timestamp": stamp,
        "token": token,
        "signature": signature,
    }
    headers = (("Content-Type", "application/x-www-form-urlencoded"),)
    return Webhook(
        "mailgun",
        "/webhooks/email/mailgun",
        headers,
        urlencode(fields).encode(),
        ("mailgun", message_id),
        opens,
    )


def postmark(traffic: Customers, follow: Thread | None) -> Webhook:
    """Postmark's inbound JSON, basic auth in the URL; Postmark's MessageID is the dedupe key."""
    thread, message_id, opens = _thread(traffic, "postmark", follow)
    provider_id = f"{traffic.rng.getrandbits(128):032x}"
    listed = [
        {"Name": "X-Spam-Status", "Value": "No"},
        {"Name": "X-Spam-Score", "Value": "-0.1"},
        {"Name": "Message-ID", "Value": f"<{message_id}>"},
    ]
    if not opens:
        listed += [
            {"Name": "In-Reply-To", "Value": f"<{thread.root}>"},
            {"Name": "References", "Value": f"<{thread.root}>"},
        ]
    text = traffic.text()
    document = {
        "FromName": thread.name,
        "MessageStream": "inbound",
        "From": thread.customer,
        "FromFull": {"Email": thread.customer, "Name": thread.name, "MailboxHash": ""},
        "To": "support@inbound.example.com",
        "ToFull": [{"Email": "support@inbound.example.com", "Name": "", "MailboxHash": ""}],
        "OriginalRecipient": "support@inbound.example.com",
        "Subject": "Refund" if opens else "Re: Refund",
        "MessageID": provider_id,
        "Date": format_datetime(datetime.now(UTC)),
        "TextBody": f"{text}\n\nOn Mon, Support <support@example.com> wrote:\n> Earlier",
        "HtmlBody": f"<html><body><p>{text}</p></body></html>",
        "StrippedTextReply": text,
        "Tag": "",
        "Headers": listed,
        "Attachments": [],
    }
    headers = (("Content-Type", "application/json"), basic_auth(traffic.secrets.postmark))
    return Webhook(
        "postmark",
        "/webhooks/email/postmark",
        headers,
        compact(document),
        ("postmark", provider_id),
        opens,
    )


EMAIL_BUILDERS: dict[str, Builder] = {
    "sendgrid": sendgrid,
    "mailgun": mailgun,
    "postmark": postmark,
}
