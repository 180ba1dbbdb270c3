"""Which sender answers which conversation, built from the settings."""

from __future__ import annotations

import httpx

from adapters.outbound.meta import MessengerSender, WhatsAppSender
from adapters.outbound.postmark import PostmarkSender
from adapters.outbound.twilio import TwilioSender
from router.channels import Channel
from router.outbound.ports import OutboundSender
from router.settings import Settings

_TWILIO = "twilio"


class ProviderDirectory:
    """The configured senders; a channel whose credentials are unset has none."""

    def __init__(self, settings: Settings) -> None:
        self._client = httpx.AsyncClient(
            timeout=settings.outbound_timeout_seconds,
            headers={"User-Agent": "conversation-router"},
        )
        self._email: OutboundSender | None = None
        self._whatsapp: OutboundSender | None = None
        self._messenger: OutboundSender | None = None
        self._twilio: OutboundSender | None = None
        if settings.outbound_email_token is not None:
            self._email = PostmarkSender(
                self._client,
                settings.outbound_email_base_url,
                settings.outbound_email_token.get_secret_value(),
                settings.outbound_email_message_stream,
            )
        if settings.outbound_whatsapp_token is not None:
            self._whatsapp = WhatsAppSender(
                self._client,
                settings.outbound_meta_base_url,
                settings.outbound_whatsapp_token.get_secret_value(),
            )
        if settings.outbound_meta_page_token is not None:
            self._messenger = MessengerSender(
                self._client,
                settings.outbound_meta_base_url,
                settings.outbound_meta_page_token.get_secret_value(),
            )
        if settings.outbound_twilio_account_sid and settings.twilio_auth_token is not None:
            self._twilio = TwilioSender(
                self._client,
                settings.outbound_twilio_base_url,
                settings.outbound_twilio_account_sid,
                settings.twilio_auth_token.get_secret_value(),
                settings.outbound_twilio_content_sids,
            )

    def sender_for(self, channel: Channel, inbound_provider: str) -> OutboundSender | None:
        """Answer on the provider the customer came through where it matters (WhatsApp)."""
        if channel is Channel.EMAIL:
            return self._email
        if channel is Channel.SMS:
            return self._twilio
        if channel is Channel.WHATSAPP:
            return self._twilio if inbound_provider == _TWILIO else self._whatsapp
        if channel in (Channel.MESSENGER, Channel.INSTAGRAM):
            return self._messenger
        return None  # web chat and voice have no outbound API here

    async def close(self) -> None:
        """Close the shared HTTP connection pool."""
        await self._client.aclose()
