"""Signed, realistic webhook requests from every provider, as the load generator sends them.

Each request is built the way the provider builds it (multipart and form posts for SendGrid
and Mailgun, JSON for Postmark, our widget and Meta, form posts for Twilio) and signed with
the provider's own recipe, so the service does all of its real work: signature check,
parsing, normalising, publishing. Every message carries a fresh provider id; a share of
them continue a recent thread (an email reply, the next chat line, a voicemail after a call)
so conversations get more than one message. Names, addresses and numbers are synthetic.
"""

from __future__ import annotations

from bench.email_payloads import EMAIL_BUILDERS
from bench.messaging_payloads import MESSAGING_BUILDERS
from bench.provider_requests import (
    PUBLIC_BASE_URL,
    Builder,
    Customers,
    Secrets,
    Thread,
    Webhook,
    basic_auth,
    compact,
)

__all__ = [
    "FOLLOW_UP_SHARE",
    "MIX",
    "PUBLIC_BASE_URL",
    "SOURCES",
    "Secrets",
    "Thread",
    "Traffic",
    "Webhook",
    "basic_auth",
    "compact",
]

# Share of webhooks per source (percent). Delivery statuses carry no message.
MIX: dict[str, int] = {
    "sendgrid": 8,
    "mailgun": 8,
    "postmark": 8,
    "webchat": 20,
    "whatsapp": 16,
    "messenger": 8,
    "instagram": 7,
    "twilio_sms": 10,
    "twilio_voice": 7,
    "whatsapp_status": 4,
    "twilio_sms_status": 4,
}
SOURCES = tuple(MIX)
# Share of message webhooks that continue a recent thread of the same source, unless
# `--follow-ups` says otherwise: 0.25 makes 1.33 messages per conversation, 0.75 makes 4.
FOLLOW_UP_SHARE = 0.25


class Traffic(Customers):
    """An endless, reproducible stream of signed webhooks in the configured mix."""

    def __init__(
        self, secrets: Secrets, *, seed: int, tag: str, follow_ups: float = FOLLOW_UP_SHARE
    ) -> None:
        super().__init__(secrets, seed=seed, tag=tag)
        self._follow_ups = follow_ups
        self._weights = list(MIX.values())
        self._builders: dict[str, Builder] = {**EMAIL_BUILDERS, **MESSAGING_BUILDERS}
        assert set(self._builders) == set(MIX), "every source of the mix needs a builder"

    def next(self) -> Webhook:
        """The next webhook of the mix."""
        source = self.rng.choices(SOURCES, self._weights)[0]
        return self.build(source)

    def build(self, source: str) -> Webhook:
        """A webhook of one source: a new thread, or (sometimes) the next message of one."""
        self._seq += 1
        recent = self.threads(source)
        follow = recent[self.rng.randrange(len(recent))] if recent else None
        if follow is not None and self.rng.random() >= self._follow_ups:
            follow = None
        return self._builders[source](self, follow)
