"""Email replies through Postmark's `POST /email` API."""

from __future__ import annotations

import httpx

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

        The email's own Message-ID names the message's row, so a bounce that returns it is
        recorded as the failed delivery of this message.
        """
        headers = [{"Name": "Message-ID", "Value": outbound_message_id(reply)}]
        if reply.auto_submitted:
            headers.append({"Name": "Auto-Submitted", "Value": reply.auto_submitted})
        if reply.in_reply_to:
            headers.append({"Name": "In-Reply-To", "Value": reply.in_reply_to})
            references = [*reply.references, reply.in_reply_to]
            headers.append({"Name": "References", "Value": " ".join(dict.fromkeys(references))})
        body = await post(
            self._client,
            self.provider,
            self._url,
            json={
                "From": reply.sender,
                "To": reply.to,
                "Subject": _subject(reply.subject, replying=reply.in_reply_to is not None),
                "TextBody": reply.text,
                "Headers": headers,
                "MessageStream": self._stream,
            },
            headers={"Accept": "application/json", "X-Postmark-Server-Token": self._token},
        )
        return Sent(required_id(body, self.provider, "MessageID"))


def outbound_message_id(reply: OutboundReply) -> str:
    """`<message row id@the sending domain>`: unique, and found again from a bounce."""
    domain = reply.sender.rpartition("@")[2].strip(" <>") or "router.invalid"
    return f"<{reply.message_id}@{domain}>"


def _subject(subject: str | None, *, replying: bool) -> str:
    if not subject:
        return "Re: your message"
    if not replying:  # a conversation we start keeps the subject the agent wrote
        return subject
    return subject if subject[:3].lower() == "re:" else f"Re: {subject}"
