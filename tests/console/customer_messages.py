"""What one customer sends on each channel, each request signed as its provider signs it.

The customer writes from one phone number (SMS, WhatsApp, calls), one email address, a
Messenger and an Instagram account and, logged in, the shop's web-chat widget. Media the
providers host is served by the local provider stand-in (`media_hosts`), so the router
fetches it from there with the credentials each host needs.
"""

from __future__ import annotations

import base64
import json
import time
import uuid

import httpx

from tests.adapters.channel_requests import webchat_headers
from tests.adapters.conftest import SECRETS
from tests.adapters.email_requests import basic_auth
from tests.adapters.meta_requests import (
    IG_ACCOUNT,
    LINE,
    PAGE,
    encoded,
    from_customer,
    post,
    social,
    wa_message,
    wa_value,
    whatsapp,
)
from tests.adapters.payloads import payload
from tests.adapters.twilio_requests import CUSTOMER, post_signed, sms_params
from tests.console import providers
from tests.console.media_hosts import twilio_media_url

NUMBER = CUSTOMER  # the stored Twilio requests' caller
EMAIL = "amara.okafor@example.com"  # the stored Postmark email's sender
PSID = "7101928374650001"  # page-scoped id on Messenger
IGSID = "17841499990000002"  # Instagram-scoped id
VISITOR = "v_amara"
SITE = "shop-main"
# Meta's WhatsApp number the customer writes to, which our replies are sent from.
WHATSAPP_LINE = LINE


async def email_with_pdf(client: httpx.AsyncClient, pdf: bytes) -> httpx.Response:
    """The stored Postmark inbound email, carrying `pdf` as its one attachment."""
    sample = payload("postmark_inbound.json")
    document = sample.document()
    document["Attachments"] = [
        {
            "Name": "order-4521.pdf",
            "Content": base64.b64encode(pdf).decode(),
            "ContentType": "application/pdf",
            "ContentLength": len(pdf),
        }
    ]
    headers = {**sample.headers, **basic_auth(SECRETS["postmark_inbound_token"])}
    return await client.post(sample.target, content=json.dumps(document), headers=headers)


async def mms(client: httpx.AsyncClient, media_base_url: str, media_sid: str) -> httpx.Response:
    """An MMS from the customer's number with one photo hosted by Twilio."""
    params = sms_params(
        MessageSid=f"MM{uuid.uuid4().hex}",
        Body="This is what arrived.",
        NumMedia="1",
        MediaUrl0=twilio_media_url(media_base_url, media_sid),
        MediaContentType0="image/jpeg",
    )
    return await post_signed(client, "/webhooks/twilio/sms", params, token=providers.TWILIO_TOKEN)


async def whatsapp_image(client: httpx.AsyncClient, media_id: str) -> httpx.Response:
    """A WhatsApp image (by Meta media id) from the customer's number, sent just now."""
    message = wa_message(
        "image",
        1,
        image={"id": media_id, "mime_type": "image/png", "caption": "The box was open."},
    )
    # Sent now: the customer-service window runs from the provider's timestamp.
    message.update(
        {
            "from": NUMBER.removeprefix("+"),
            "id": f"wamid.{uuid.uuid4().hex}",
            "timestamp": str(int(time.time())),
        }
    )
    contacts = [{"profile": {"name": "Amara"}, "wa_id": NUMBER.removeprefix("+")}]
    return await post(client, encoded(whatsapp(wa_value([message], contacts=contacts))))


async def social_image(client: httpx.AsyncClient, kind: str, url: str) -> httpx.Response:
    """A Messenger (`page`) or Instagram (`instagram`) message with one image by CDN URL."""
    sender, business = (PSID, PAGE) if kind == "page" else (IGSID, IG_ACCOUNT)
    event = from_customer(
        sender,
        business,
        message={
            "mid": f"m_{uuid.uuid4().hex}",
            "text": "Here is a photo.",
            "attachments": [{"type": "image", "payload": {"url": url}}],
        },
    )
    event["timestamp"] = int(time.time() * 1000)
    return await post(client, encoded(social(kind, [event], business)))


async def chat_with_file(client: httpx.AsyncClient, verified_phone: str) -> httpx.Response:
    """A visitor message with a file the widget stored, from a visitor the shop's login knows."""
    body = json.dumps(
        {
            "event_id": f"evt_{uuid.uuid4().hex}",
            "site": SITE,
            "session_id": "s_amara_1",
            "visitor": {"id": VISITOR, "name": "Amara"},
            "text": "The receipt, as asked.",
            "attachments": [
                {
                    "filename": "receipt.png",
                    "content_type": "image/png",
                    "size": 4096,
                    "url": "https://cdn.shop.example/u/receipt.png",
                }
            ],
            "sent_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "verified": {"phone": verified_phone},
        }
    ).encode()
    headers = webchat_headers(body, secret=providers.WEBCHAT_SECRET)
    return await client.post("/webhooks/chat", content=body, headers=headers)
