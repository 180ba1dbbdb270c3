"""Email replies through Postmark's `POST /email` API."""

from __future__ import annotations

import base64

import httpx

from adapters.outbound.email_headers import email_subject, threading_headers
from adapters.outbound.http import post, required_id
from router.outbound.ports import OutboundReply, Sent


class PostmarkSender:
    """Sends an email reply threaded under the customer's message (In-Reply-To, References)."""

    provider = "postmark"

    def __init__(
        self, client: httpx.AsyncClient, base_url: str, token: str, message_stream: str
    ) -> None:
        self._client = client
        self._url = base_url.rstrip("/") + "/email"
        self._token = token
        self._stream = message_stream

    async def send(self, reply: OutboundReply) -> Sent:
        """Send the reply; Postmark's `MessageID` becomes the message's provider id.

        Its delivery, bounce and open webhooks name that id. The email's own Message-ID
        names the message's row, so a bounce returned as mail finds it too.
        """
        headers = [
            {"Name": name, "Value": value} for name, value in threading_headers(reply).items()
        ]
        document: dict[str, object] = {
            "From": reply.sender,
            "To": reply.to,
            "Subject": email_subject(reply),
            "TextBody": reply.text,
            "Headers": headers,
            "MessageStream": self._stream,
        }
        if reply.files:
            document["Attachments"] = [
                {
                    "Name": file.filename,
                    "Content": base64.b64encode(file.content).decode(),
                    "ContentType": file.content_type,
                }
                for file in reply.files
            ]
        body = await post(
            self._client,
            self.provider,
            self._url,
            json=document,
            headers={"Accept": "application/json", "X-Postmark-Server-Token": self._token},
        )
        return Sent(required_id(body, self.provider, "MessageID"))
