"""Email replies through Mailgun's `POST /v3/{domain}/messages`."""

from __future__ import annotations

import httpx

from adapters.outbound.email_headers import email_message_id, email_subject, threading_headers
from adapters.outbound.http import post_request
from router.outbound.ports import OutboundReply, Sent


class MailgunSender:
    """multipart/form-data with basic auth `api:<key>`; our headers go in as `h:` fields."""

    provider = "mailgun"

    def __init__(
        self, client: httpx.AsyncClient, base_url: str, api_key: str, domain: str | None
    ) -> None:
        self._client = client
        self._base_url = base_url.rstrip("/")
        self._auth = ("api", api_key)
        self._domain = domain

    async def send(self, reply: OutboundReply) -> Sent:
        """Send the reply; our own Message-ID (canonical) is the message's provider id.

        Mailgun keeps the Message-ID it is given, and its event webhooks report it.
        """
        domain = self._domain or reply.sender.rpartition("@")[2].strip(" <>")
        fields = [
            ("from", reply.sender),
            ("to", reply.to),
            ("subject", email_subject(reply)),
            ("text", reply.text),
            *((f"h:{name}", value) for name, value in threading_headers(reply).items()),
        ]
        # Always multipart, as Mailgun documents it: a part per field, then one per file.
        files: list[tuple[str, tuple[str | None, bytes, str | None]]] = [
            (name, (None, value.encode(), None)) for name, value in fields
        ]
        files.extend(
            ("attachment", (file.filename, file.content, file.content_type)) for file in reply.files
        )
        await post_request(
            self._client,
            self.provider,
            f"{self._base_url}/v3/{domain}/messages",
            files=files,
            auth=self._auth,
        )
        return Sent(email_message_id(reply))
