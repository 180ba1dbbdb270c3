"""SMS (and WhatsApp through Twilio) replies with Twilio's REST `Messages.json`."""

from __future__ import annotations

import json
from collections.abc import Mapping

import httpx

from adapters.outbound.http import media_link, post, required_id
from router.channels import Channel
from router.outbound.ports import DeliveryError, OutboundReply, OutboundTemplate, Sent


class TwilioSender:
    """`POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, form-encoded, basic auth."""

    provider = "twilio"

    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str,
        account_sid: str,
        auth_token: str,
        status_callback: str | None = None,
        content_sids: Mapping[str, str] | None = None,
    ) -> None:
        self._client = client
        self._url = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self._auth = (account_sid, auth_token)
        # Twilio reports sent/delivered/read/failed only to a URL named with the message.
        self._status_callback = status_callback
        self._content_sids = dict(content_sids or {})

    async def send(self, reply: OutboundReply) -> Sent:
        """Send the message from the number the customer wrote to; Twilio's `sid` is the id.

        With a public URL configured, Twilio posts the message's statuses to
        `/webhooks/twilio/sms/status`, where they become delivery updates. A template goes as
        the Content template configured for its name and language (`ContentSid`, its
        parameters as `ContentVariables` numbered from 1).
        """
        prefix = "whatsapp:" if reply.channel is Channel.WHATSAPP else ""
        data: dict[str, str | list[str]] = {"To": prefix + reply.to, "From": prefix + reply.sender}
        if reply.template is not None:
            data["ContentSid"] = self.content_sid(reply.template)
            variables = {str(n): value for n, value in enumerate(reply.template.parameters, 1)}
            if variables:
                data["ContentVariables"] = json.dumps(variables, ensure_ascii=False)
        else:
            data["Body"] = reply.text
        if reply.files:
            # Twilio fetches each MediaUrl itself (an MMS, or WhatsApp media).
            data["MediaUrl"] = [media_link(file, self.provider) for file in reply.files]
        if self._status_callback:
            data["StatusCallback"] = self._status_callback
        body = await post(self._client, self.provider, self._url, data=data, auth=self._auth)
        return Sent(required_id(body, self.provider, "sid"))

    def content_sid(self, template: OutboundTemplate) -> str:
        """The ContentSid for `name:language`, else for `name`; a final error when neither."""
        for key in (f"{template.name}:{template.language}", template.name):
            if key in self._content_sids:
                return self._content_sids[key]
        raise DeliveryError(
            f"twilio: no ContentSid configured for template {template.name}"
            f" ({template.language}); see ROUTER_OUTBOUND_TWILIO_CONTENT_SIDS",
            retryable=False,
        )
