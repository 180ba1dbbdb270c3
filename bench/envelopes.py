"""The inbound envelopes the service would publish for the bench's webhooks.

Ceiling (b) and the routing-only mode need realistic records on `router.inbound.v1`: the
same webhooks the load generator sends, turned into `InboundMessage`/`DeliveryUpdate` by the
adapters' own (pure) parsing functions, and encoded with `router.inbound.envelope.encode`.
So the records are byte for byte what `router serve` would have put on the topic.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from adapters.channels import meta, twilio, twilio_voice, webchat
from adapters.channels.email.mailgun import mailgun_email
from adapters.channels.email.mime import parse_form
from adapters.channels.email.parsing import inbound_message
from adapters.channels.email.postmark import PostmarkInbound, postmark_email
from adapters.channels.email.sendgrid import sendgrid_email
from bench.payloads import FOLLOW_UP_SHARE, Secrets, Traffic, Webhook
from router.inbound.envelope import InboundMessage, encode, partition_key
from router.inbound.ports import Event


def events_of(webhook: Webhook) -> list[Event]:
    """What the webhook's handler would publish (signature checks left out)."""
    headers = dict(webhook.headers)
    content_type = headers.get("Content-Type", "")
    path, _, query = webhook.path.partition("?")
    if webhook.source == "webchat":
        return webchat.chat_events(webhook.body)
    if path == "/webhooks/meta":
        return meta.notification_events(webhook.body)
    if webhook.source == "postmark":
        payload = PostmarkInbound.model_validate_json(webhook.body)
        return [
            inbound_message(
                "postmark", postmark_email(payload), provider_message_id=payload.MessageID.lower()
            )
        ]
    if webhook.source == "sendgrid":
        return [inbound_message("sendgrid", sendgrid_email(parse_form(webhook.body, content_type)))]
    if webhook.source == "mailgun":
        return [inbound_message("mailgun", mailgun_email(parse_form(webhook.body, content_type)))]
    form = dict(twilio.parse_form(webhook.body))
    if path == "/webhooks/twilio/sms":
        return [twilio.sms_message(form)]
    if path == "/webhooks/twilio/sms/status":
        update = twilio.delivery_update(form)
        return [update] if update else []
    if path == "/webhooks/twilio/voice":
        return [twilio_voice.incoming_call(form)]
    if path == "/webhooks/twilio/voice/recording":
        thread = dict(parse_qsl(urlsplit("?" + query).query))
        found = twilio_voice.voicemail_recording({**thread, **form})
        return [found] if found else []
    raise ValueError(f"no envelope mapping for {webhook.path}")


@dataclass(frozen=True, slots=True)
class Record:
    """One encoded envelope as it goes on the topic."""

    key: bytes
    value: bytes
    is_message: bool


def records(
    count: int, *, seed: int, tag: str, follow_ups: float = FOLLOW_UP_SHARE
) -> list[Record]:
    """The envelopes of the first webhooks of the mix, `count` in all."""
    secrets = Secrets.generate(random.Random(seed))
    traffic = Traffic(secrets, seed=seed, tag=tag, follow_ups=follow_ups)
    found: list[Record] = []
    while len(found) < count:
        for event in events_of(traffic.next()):
            found.append(
                Record(partition_key(event), encode(event), isinstance(event, InboundMessage))
            )
    return found[:count]
