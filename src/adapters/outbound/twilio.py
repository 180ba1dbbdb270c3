"""SMS (and WhatsApp through Twilio) replies with Twilio's REST `Messages.json`."""

from __future__ import annotations

import httpx

from adapters.outbound.http import post, required_id
from router.channels import Channel
from router.outbound.ports import OutboundReply, Sent


class TwilioSender:
    """`POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, form-encoded, basic auth."""

    provider = "twilio"

    def __init__(
        self, client: httpx.AsyncClient, base_url: str, account_sid: str, auth_token: str
    ) -> None:
        self._client = client
        self._url = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self._auth = (account_sid, auth_token)

    async def send(self, reply: OutboundReply) -> Sent:
        """Send the message from the number the customer wrote to; Twilio's `sid` is the id."""
        prefix = "whatsapp:" if reply.channel is Channel.WHATSAPP else ""
        body = await post(
            self._client,
            self.provider,
            self._url,
            data={"To": prefix + reply.to, "From": prefix + reply.sender, "Body": reply.text},
            auth=self._auth,
        )
        return Sent(required_id(body, self.provider, "sid"))
