"""Email replies through the company's own mail server, over SMTP (aiosmtplib).

The MIME is written here, with the same threading headers the providers' APIs are given;
the standard library's SMTP policy folds long headers (References) at 78 characters and
ends lines with CRLF.
"""

from __future__ import annotations

from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.utils import formatdate
from typing import Literal

import aiosmtplib

from adapters.outbound.email_headers import email_message_id, email_subject, threading_headers
from router.outbound.ports import DeliveryError, OutboundReply, Sent

Security = Literal["starttls", "tls", "none"]


@dataclass(frozen=True)
class SmtpServer:
    """Where and how to submit mail."""

    host: str
    port: int
    security: Security
    username: str | None
    password: str | None
    timeout_seconds: float


class SmtpSender:
    """Submits each reply on its own connection: replies are few, and a pool would go stale."""

    provider = "smtp"

    def __init__(self, server: SmtpServer) -> None:
        self._server = server

    async def send(self, reply: OutboundReply) -> Sent:
        """Submit the reply; our own Message-ID (canonical) is the message's provider id."""
        try:
            await self._submit(reply_mime(reply))
        except aiosmtplib.SMTPRecipientsRefused as error:
            codes = [refused.code for refused in error.recipients]
            transient = bool(codes) and all(400 <= code < 500 for code in codes)
            detail = f"smtp refused the recipient: {codes}"
            raise DeliveryError(detail, retryable=transient) from None
        except aiosmtplib.SMTPResponseException as error:
            # 4xx: the server asks to try again later; 5xx (a refused login too) is final.
            raise DeliveryError(
                f"smtp answered {error.code}: {error.message[:300]}",
                retryable=400 <= error.code < 500,
            ) from None
        except aiosmtplib.SMTPNotSupported as error:  # no login offered: a setting to change
            raise DeliveryError(f"smtp: {error}"[:300], retryable=False) from None
        except (aiosmtplib.SMTPException, OSError) as error:
            raise DeliveryError(f"smtp: {type(error).__name__}", retryable=True) from None
        return Sent(email_message_id(reply))

    async def _submit(self, message: EmailMessage) -> None:
        server = self._server
        client = aiosmtplib.SMTP(
            hostname=server.host,
            port=server.port,
            use_tls=server.security == "tls",
            start_tls=False,  # below, and required rather than taken when offered
            timeout=server.timeout_seconds,
        )
        async with client:
            if server.security == "starttls":
                if not client.supports_extension("starttls"):
                    # Never fall back to sending the password and the mail in clear text.
                    raise DeliveryError("smtp: the server does not offer STARTTLS", retryable=False)
                await client.starttls()
            if server.username:
                await client.login(server.username, server.password or "")
            await client.send_message(message)


def reply_mime(reply: OutboundReply) -> EmailMessage:
    """The reply as an RFC 5322 message: text, threading headers, attachments."""
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = reply.sender
    message["To"] = reply.to
    message["Subject"] = email_subject(reply)
    message["Date"] = formatdate(usegmt=True)
    for name, value in threading_headers(reply).items():
        message[name] = value
    message.set_content(reply.text)
    for file in reply.files:
        maintype, _, subtype = file.content_type.partition("/")
        if not subtype:
            maintype, subtype = "application", "octet-stream"
        message.add_attachment(
            file.content, maintype=maintype, subtype=subtype, filename=file.filename
        )
    return message
