"""Replies on WhatsApp (Cloud API) and Messenger/Instagram (Send API) through Meta's Graph API."""

from __future__ import annotations

import httpx

from adapters.outbound.http import post, required_id
from router.outbound.ports import OutboundReply, Sent


class WhatsAppSender:
    """`POST /{phone-number-id}/messages`: the number the customer wrote to answers."""

    provider = "meta"

    def __init__(self, client: httpx.AsyncClient, base_url: str, token: str) -> None:
        self._client = client
        self._base = base_url.rstrip("/")
        self._token = token

    async def send(self, reply: OutboundReply) -> Sent:
        """Send a text message; the `wamid` Meta returns becomes the provider id."""
        body = await post(
            self._client,
            self.provider,
            f"{self._base}/{reply.sender}/messages",
            json={
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                # The router keeps numbers in E.164; the Cloud API wants the bare wa_id digits.
                "to": reply.to.removeprefix("+"),
                "type": "text",
                "text": {"preview_url": False, "body": reply.text},
            },
            headers={"Authorization": f"Bearer {self._token}"},
        )
        return Sent(required_id(body, self.provider, "messages", 0, "id"))


class MessengerSender:
    """`POST /me/messages` with the page's token; Instagram messaging uses the same API."""

    provider = "meta"

    def __init__(self, client: httpx.AsyncClient, base_url: str, token: str) -> None:
        self._client = client
        self._url = base_url.rstrip("/") + "/me/messages"
        self._token = token

    async def send(self, reply: OutboundReply) -> Sent:
        """Send a text message as a response to the customer (inside the 24 h window)."""
        body = await post(
            self._client,
            self.provider,
            self._url,
            json={
                "recipient": {"id": reply.to},
                "messaging_type": "RESPONSE",
                "message": {"text": reply.text},
            },
            headers={"Authorization": f"Bearer {self._token}"},
        )
        return Sent(required_id(body, self.provider, "message_id"))
