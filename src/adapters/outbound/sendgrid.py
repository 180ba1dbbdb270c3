"""Email replies through SendGrid's v3 `POST /v3/mail/send`."""

from __future__ import annotations

import base64
from email.utils import parseaddr
from typing import Any

import httpx

from adapters.outbound.email_headers import email_message_id, email_subject, threading_headers
from adapters.outbound.http import post_request
from router.outbound.ports import OutboundReply, Sent

# Echoed by SendGrid on every event webhook about the message (its `custom_args`), so a
# delivery or bounce names the row whatever ids SendGrid gave the message on the way.
MESSAGE_ARG = "router_message_id"


class SendGridSender:
    """JSON with a Bearer API key; SendGrid answers `202` with an empty body."""

    provider = "sendgrid"

    def __init__(self, client: httpx.AsyncClient, base_url: str, api_key: str) -> None:
        self._client = client
        self._url = base_url.rstrip("/") + "/v3/mail/send"
        self._api_key = api_key

    async def send(self, reply: OutboundReply) -> Sent:
        """Send the reply; our own Message-ID (canonical) is the message's provider id."""
        message_id = email_message_id(reply)
        document: dict[str, Any] = {
            "personalizations": [
                {"to": [_address(reply.to)], "custom_args": {MESSAGE_ARG: message_id}}
            ],
            "from": _address(reply.sender),
            "subject": email_subject(reply),
            "content": [{"type": "text/plain", "value": reply.text}],
            "headers": threading_headers(reply),
        }
        if reply.files:
            document["attachments"] = [
                {
                    "content": base64.b64encode(file.content).decode(),
                    "type": file.content_type,
                    "filename": file.filename,
                    "disposition": "attachment",
                }
                for file in reply.files
            ]
        await post_request(
            self._client,
            self.provider,
            self._url,
            json=document,
            headers={"Authorization": f"Bearer {self._api_key}"},
        )
        return Sent(message_id)


def _address(raw: str) -> dict[str, str]:
    name, address = parseaddr(raw)
    return {"email": address or raw, **({"name": name} if name else {})}
