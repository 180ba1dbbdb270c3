"""Meta webhooks (WhatsApp, Messenger, Instagram) through the real app onto the real topic."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from adapters.channels.meta import verify_signature
from router.errors import BadSignature
from router.inbound.envelope import DeliveryUpdate, InboundMessage, MessageKind
from router.settings import Settings
from tests.adapters.channel_requests import (
    by_conversation,
    nothing_published,
    problem,
    published,
)
from tests.adapters.conftest import SECRETS, Inbound
from tests.adapters.meta_requests import (
    IG_ACCOUNT,
    LINE,
    PAGE,
    URL,
    encoded,
    from_customer,
    post,
    social,
    wa_message,
    wa_value,
    whatsapp,
)
from tests.adapters.payloads import assert_answer, payload, send, signature_vectors, signed
from tests.support import app_client


async def test_every_whatsapp_kind_in_one_batch(
    client: httpx.AsyncClient, inbound: Inbound
) -> None:
    media = {"mime_type": "image/jpeg", "sha256": "abc", "id": "1003383421387256"}
    first = wa_value(
        messages=[
            wa_message("image", 1, image={**media, "caption": "this one"}),
            wa_message("audio", 2, audio={"mime_type": "audio/ogg; codecs=opus", "id": "m2"}),
            wa_message(
                "document",
                3,
                document={"filename": "invoice.pdf", "mime_type": "application/pdf", "id": "m3"},
            ),
            wa_message("sticker", 4, sticker={"mime_type": "image/webp", "id": "m4"}),
            wa_message(
                "video", 5, video={"mime_type": "video/mp4", "id": "m5", "url": "https://x/v"}
            ),
            wa_message(
                "location",
                6,
                location={
                    "latitude": 37.48,
                    "longitude": -122.15,
                    "name": "HQ",
                    "address": "1 Way",
                },
            ),
            wa_message(
                "interactive",
                7,
                interactive={"type": "button_reply", "button_reply": {"id": "b1", "title": "Yes"}},
            ),
            wa_message(
                "interactive",
                8,
                interactive={"type": "list_reply", "list_reply": {"id": "l2", "title": "Blue"}},
            ),
            wa_message("button", 9, button={"text": "Track order", "payload": "TRACK"}),
            wa_message("reaction", 10, reaction={"message_id": "wamid.ours", "emoji": "👍"}),
            wa_message(
                "unsupported",
                11,
                errors=[{"code": 131051, "title": "Message type unknown"}],
            ),
            wa_message("text", 12, text={"body": "re: that"}, context={"id": "wamid.ours"}),
        ]
    )
    second = wa_value(
        statuses=[
            {
                "id": "wamid.out.1",
                "status": "sent",
                "timestamp": "1750263773",
                "recipient_id": "16505551234",
            },
            {
                "id": "wamid.out.1",
                "status": "delivered",
                "timestamp": "1750263774",
                "recipient_id": "16505551234",
            },
            {
                "id": "wamid.out.1",
                "status": "read",
                "timestamp": "1750263775",
                "recipient_id": "16505551234",
            },
            {
                "id": "wamid.out.2",
                "status": "failed",
                "timestamp": "1750263776",
                "recipient_id": "16505551234",
                "errors": [{"code": 131049, "title": "Not delivered to keep engagement healthy"}],
            },
            {"id": "wamid.out.3", "status": "deleted", "recipient_id": "16505551234"},
        ]
    )
    account_update = {"phone_number": "15550783881", "event": "VERIFIED_ACCOUNT"}
    document = whatsapp(first, second)
    document["entry"].append(whatsapp(account_update, field="account_update")["entry"][0])
    assert (await post(client, encoded(document))).status_code == 200

    found = [event for _, event in await published(inbound, 16)]
    messages = [event for event in found if isinstance(event, InboundMessage)]
    updates = [event for event in found if isinstance(event, DeliveryUpdate)]
    assert all(event.conversation_key == f"whatsapp:{LINE}|16505551234" for event in found)
    by_id = {event.provider_message_id: event for event in messages}
    # A reaction is kept, as what it is: it wakes no agent (see the routing engine).
    reaction = by_id["wamid.reaction.10"]
    assert (reaction.kind, reaction.references) == (MessageKind.REACTION, ("wamid.ours",))
    image = by_id["wamid.image.1"]
    assert (image.kind, image.text, image.metadata["media_id"]) == (
        MessageKind.MEDIA,
        "this one",
        "1003383421387256",
    )
    assert image.attachments[0].content_type == "image/jpeg"
    assert by_id["wamid.audio.2"].attachments[0].content_type == "audio/ogg; codecs=opus"
    assert by_id["wamid.document.3"].attachments[0].filename == "invoice.pdf"
    assert by_id["wamid.sticker.4"].kind is MessageKind.MEDIA
    assert by_id["wamid.video.5"].attachments[0].url == "https://x/v"
    place = by_id["wamid.location.6"]
    assert place.kind is MessageKind.LOCATION
    assert place.text.startswith("Location: HQ, 1 Way (https://www.google.com/maps/")
    assert (place.metadata["latitude"], place.metadata["longitude"]) == ("37.48", "-122.15")
    assert by_id["wamid.interactive.7"].text == "Yes"
    assert by_id["wamid.interactive.8"].text == "Blue"
    assert by_id["wamid.button.9"].text == "Track order"
    assert by_id["wamid.button.9"].metadata["button_payload"] == "TRACK"
    unsupported = by_id["wamid.unsupported.11"]
    assert unsupported.kind is MessageKind.SYSTEM
    assert unsupported.metadata["message_type"] == "unsupported"
    assert unsupported.text == "Sent a message WhatsApp does not support (Message type unknown)"
    assert unsupported.metadata["provider_error"] == "Message type unknown"
    assert by_id["wamid.text.12"].references == ("wamid.ours",)
    assert [(u.provider_message_id, u.status) for u in updates] == [
        ("wamid.out.1", "sent"),
        ("wamid.out.1", "delivered"),
        ("wamid.out.1", "read"),
        ("wamid.out.2", "failed"),
    ]
    assert updates[3].error == "131049: Not delivered to keep engagement healthy"


async def test_messenger_events_echoes_and_receipts(
    client: httpx.AsyncClient, inbound: Inbound
) -> None:
    image = {"type": "image", "payload": {"url": "https://scontent.example/p.jpg"}}
    events = [
        from_customer(
            "111", message={"mid": "m.1", "text": "Red", "quick_reply": {"payload": "RED"}}
        ),
        from_customer("111", message={"mid": "m.2", "attachments": [image]}),
        # Our own reply, echoed back: sender is the page.
        {
            "sender": {"id": PAGE},
            "recipient": {"id": "111"},
            "timestamp": 1458692752479,
            "message": {"mid": "m.ours", "is_echo": True, "app_id": 1517776481860111, "text": "Hi"},
        },
        from_customer("111", delivery={"mids": ["m.ours", "m.ours.2"], "watermark": 1458668856253}),
        from_customer("111", read={"watermark": 1458668856253}),
        from_customer(
            "111", postback={"mid": "m.3", "title": "Talk to a human", "payload": "HUMAN"}
        ),
        from_customer("222", postback={"title": "Get started", "payload": "START"}),
        from_customer("111", reaction={"mid": "m.ours", "action": "react", "emoji": "❤"}),
        from_customer("111", message={"mid": "m.gone", "is_deleted": True}),
    ]
    assert (await post(client, encoded(social("page", events)))).status_code == 200

    conversations = by_conversation(await published(inbound, 9))
    assert set(conversations) == {f"messenger:{PAGE}|111", f"messenger:{PAGE}|222"}
    ours = conversations[f"messenger:{PAGE}|111"]
    assert [(type(e).__name__, e.provider_message_id) for e in ours] == [
        ("InboundMessage", "m.1"),
        ("InboundMessage", "m.2"),
        ("DeliveryUpdate", "m.ours"),
        ("DeliveryUpdate", "m.ours.2"),
        ("DeliveryUpdate", None),
        ("DeliveryUpdate", None),
        ("InboundMessage", "m.3"),
        ("InboundMessage", "reaction:m.ours:111:1458692752478"),
    ]
    [start] = conversations[f"messenger:{PAGE}|222"]
    assert start.provider_message_id == "postback:222:1458692752478"
    first, photo, delivered, _, delivered_up_to, read_up_to, human, reaction = ours
    # Watermarks: every message we sent on the thread up to that instant.
    watermark = datetime.fromtimestamp(1458668856.253, UTC)
    assert isinstance(delivered_up_to, DeliveryUpdate)
    assert (delivered_up_to.status, delivered_up_to.watermark) == ("delivered", watermark)
    assert isinstance(read_up_to, DeliveryUpdate)
    assert (read_up_to.status, read_up_to.watermark) == ("read", watermark)
    assert isinstance(first, InboundMessage)
    assert isinstance(photo, InboundMessage)
    assert first.metadata["quick_reply_payload"] == "RED"
    assert first.conversation_key == f"messenger:{PAGE}|111"
    assert photo.kind is MessageKind.MEDIA
    assert photo.attachments[0].url == "https://scontent.example/p.jpg"
    assert photo.attachments[0].content_type == "image/*"
    assert isinstance(delivered, DeliveryUpdate)
    assert delivered.status == "delivered"
    assert isinstance(human, InboundMessage)
    assert human.text == "Talk to a human"
    assert human.metadata == {"message_type": "postback", "postback_payload": "HUMAN"}
    assert isinstance(start, InboundMessage)
    assert start.text == "Get started"
    assert isinstance(reaction, InboundMessage)
    assert (reaction.kind, reaction.text) == (MessageKind.REACTION, "Reacted ❤ to a message")
    assert reaction.references == ("m.ours",)


async def test_instagram_messages_and_reads(client: httpx.AsyncClient, inbound: Inbound) -> None:
    share = {"type": "ig_reel", "payload": {"url": "https://lookaside.example/reel"}}
    events = [
        from_customer("9001", IG_ACCOUNT, message={"mid": "ig.1", "text": "Do you ship to Oslo?"}),
        from_customer("9001", IG_ACCOUNT, message={"mid": "ig.2", "attachments": [share]}),
        from_customer("9001", IG_ACCOUNT, message={"mid": "ig.3", "is_unsupported": True}),
        from_customer("9001", IG_ACCOUNT, read={"mid": "ig.ours"}),
    ]
    document = social("instagram", events, IG_ACCOUNT)
    assert (await post(client, encoded(document))).status_code == 200

    found = [event for _, event in await published(inbound, 4)]
    assert {event.conversation_key for event in found} == {f"instagram:{IG_ACCOUNT}|9001"}
    text, reel, unsupported, read = found
    assert isinstance(text, InboundMessage)
    assert text.channel == "instagram"
    assert (text.customer.kind, text.customer.value) == ("instagram", "9001")
    assert isinstance(reel, InboundMessage)
    assert reel.attachments[0].content_type == ("application/octet-stream")
    assert isinstance(unsupported, InboundMessage)
    assert unsupported.kind is MessageKind.SYSTEM
    assert unsupported.text == "Sent a message Meta does not show to businesses"
    assert isinstance(read, DeliveryUpdate)
    assert (read.provider_message_id, read.status) == ("ig.ours", "read")


async def test_other_objects_are_acknowledged_and_ignored(
    client: httpx.AsyncClient, inbound: Inbound
) -> None:
    body = encoded({"object": "user", "entry": [{"uid": "1", "changed_fields": ["email"]}]})
    assert (await post(client, body)).content == b"EVENT_RECEIVED"
    await nothing_published(inbound)


async def test_a_replay_carries_the_same_dedupe_key(
    client: httpx.AsyncClient, inbound: Inbound
) -> None:
    # Meta signs no timestamp: a replay verifies, and de-duplication by wamid absorbs it.
    sample = payload("meta_whatsapp_text.json")
    for _ in range(2):
        assert (await send(client, sample)).status_code == 200
    found = await published(inbound, 2)
    assert len({event.provider_message_id for _, event in found}) == 1


async def test_the_verification_handshake(client: httpx.AsyncClient, inbound: Inbound) -> None:
    sample = payload("meta_verification.json")
    token = sample.query["hub.verify_token"]
    answer = await send(client, sample)
    wrong = await client.get(URL, params={**sample.query, "hub.verify_token": "wrong-token"})
    not_subscribe = await client.get(URL, params={**sample.query, "hub.mode": "unsubscribe"})
    no_challenge = await client.get(
        URL, params={"hub.mode": "subscribe", "hub.verify_token": token}
    )
    assert_answer(answer, sample.expect["response"])
    assert answer.text == sample.query["hub.challenge"]
    assert answer.headers["x-content-type-options"] == "nosniff"
    problem(wrong, 403, "verification-refused")
    problem(not_subscribe, 403, "verification-refused")
    assert problem(no_challenge, 422, "invalid-payload")["detail"].startswith("hub.challenge")
    await nothing_published(inbound)


async def test_without_a_verify_token_the_handshake_is_refused(webhook_settings: Settings) -> None:
    unconfigured = webhook_settings.model_copy(update={"meta_verify_token": None})
    query = payload("meta_verification.json").query
    async with app_client(unconfigured) as (_, http):
        response = await http.get(URL, params=query)
    assert problem(response, 503, "not-configured")["setting"] == "ROUTER_META_VERIFY_TOKEN"


def test_the_published_vector_and_the_signed_samples_verify() -> None:
    [vector] = signature_vectors("meta")
    inputs = vector["inputs"]
    verify_signature(inputs["secret"].encode(), inputs["raw_body"].encode(), vector["expected"])
    with pytest.raises(BadSignature):
        verify_signature(inputs["secret"].encode(), b"Hello, World?", vector["expected"])
    secret = SECRETS["meta_app_secret"].encode()
    for name in ("meta_whatsapp_text.json", "meta_messenger_text_reply.json"):
        body, headers = signed(payload(name))
        verify_signature(secret, body, headers["X-Hub-Signature-256"])
        verify_signature(secret, body, headers["X-Hub-Signature-256"].upper())
        with pytest.raises(BadSignature):
            verify_signature(b"another app's secret", body, headers["X-Hub-Signature-256"])
