"""Which sender answers which conversation, built from the settings."""

from __future__ import annotations

import httpx

from adapters.outbound.mailgun import MailgunSender
from adapters.outbound.meta import MessengerSender, WhatsAppSender
from adapters.outbound.postmark import PostmarkSender
from adapters.outbound.sendgrid import SendGridSender
from adapters.outbound.smtp import SmtpSender, SmtpServer
from adapters.outbound.twilio import TwilioSender
from adapters.outbound.webchat import WebChatSender
from router.channels import Channel
from router.outbound.ports import OutboundSender
from router.settings import Settings

_TWILIO = "twilio"
_TWILIO_STATUS_PATH = "/webhooks/twilio/sms/status"


def _twilio_status_callback(public_base_url: str | None) -> str | None:
    return public_base_url.rstrip("/") + _TWILIO_STATUS_PATH if public_base_url else None


class ProviderDirectory:
    """The configured senders; a channel whose credentials are unset has none."""

    def __init__(self, settings: Settings) -> None:
        self._client = httpx.AsyncClient(
            timeout=settings.outbound_timeout_seconds,
            headers={"User-Agent": "conversation-router"},
        )
        self._email = _email_senders(self._client, settings)
        self._whatsapp: OutboundSender | None = None
        self._messenger: OutboundSender | None = None
        self._twilio: OutboundSender | None = None
        self._chat: OutboundSender | None = None
        if settings.webchat_secret is not None:
            self._chat = WebChatSender(self._client, settings.webchat_secret.get_secret_value())
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
                _twilio_status_callback(settings.public_base_url),
                settings.outbound_twilio_content_sids,
            )

    def sender_for(self, channel: Channel, inbound_provider: str) -> OutboundSender | None:
        """Answer on the provider the customer came through where it matters (WhatsApp)."""
        if channel is Channel.EMAIL:
            return self._email.sender_for(inbound_provider)
        if channel is Channel.SMS:
            return self._twilio
        if channel is Channel.WHATSAPP:
            return self._twilio if inbound_provider == _TWILIO else self._whatsapp
        if channel in (Channel.MESSENGER, Channel.INSTAGRAM):
            return self._messenger
        if channel is Channel.CHAT:
            return self._chat
        return None  # voice has no outbound API here

    async def close(self) -> None:
        """Close the shared HTTP connection pool."""
        await self._client.aclose()


class EmailSenders:
    """Email answers on the provider it came in on where that one sends mail, else on SMTP,
    else on Postmark; None when none is configured."""

    def __init__(self, by_provider: dict[str, OutboundSender], smtp: OutboundSender | None) -> None:
        self._by_provider = by_provider
        self._smtp = smtp

    def sender_for(self, inbound_provider: str) -> OutboundSender | None:
        """The sender of a reply to mail that came in through `inbound_provider`."""
        found = self._by_provider.get(inbound_provider)
        return found or self._smtp or self._by_provider.get(PostmarkSender.provider)


def _email_senders(client: httpx.AsyncClient, settings: Settings) -> EmailSenders:
    senders: dict[str, OutboundSender] = {}
    if settings.outbound_email_token is not None:
        senders[PostmarkSender.provider] = PostmarkSender(
            client,
            settings.outbound_email_base_url,
            settings.outbound_email_token.get_secret_value(),
            settings.outbound_email_message_stream,
        )
    if settings.outbound_sendgrid_api_key is not None:
        senders[SendGridSender.provider] = SendGridSender(
            client,
            settings.outbound_sendgrid_base_url,
            settings.outbound_sendgrid_api_key.get_secret_value(),
        )
    if settings.outbound_mailgun_api_key is not None:
        senders[MailgunSender.provider] = MailgunSender(
            client,
            settings.outbound_mailgun_base_url,
            settings.outbound_mailgun_api_key.get_secret_value(),
            settings.outbound_mailgun_domain,
        )
    smtp = None
    if settings.outbound_smtp_host:
        password = settings.outbound_smtp_password
        smtp = SmtpSender(
            SmtpServer(
                host=settings.outbound_smtp_host,
                port=settings.outbound_smtp_port,
                security=settings.outbound_smtp_security,
                username=settings.outbound_smtp_username,
                password=password.get_secret_value() if password is not None else None,
                timeout_seconds=settings.outbound_timeout_seconds,
            )
        )
    return EmailSenders(senders, smtp)
