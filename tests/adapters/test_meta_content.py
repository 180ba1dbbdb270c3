"""Every WhatsApp message type, signed as Meta signs it, lands on the topic with its content.

Payloads are shaped as Meta's WhatsApp Cloud API webhook reference documents the
`messages` value; Messenger and Instagram shapes are in `test_meta_social_content`.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from router.inbound.envelope import InboundMessage, MessageKind
from tests.adapters.channel_requests import published
from tests.adapters.conftest import Inbound
from tests.adapters.meta_requests import (
    LINE,
    Expected,
    encoded,
    post,
    published_as,
    wa_message,
    wa_value,
    whatsapp,
)

WA_KEY = f"whatsapp:{LINE}|16505551234"


def _wa(kind: str, **content: Any) -> dict[str, Any]:
    return whatsapp(wa_value(messages=[wa_message(kind, 1, **content)]))


_CARD = {
    "name": {"formatted_name": "Ada Lovelace", "first_name": "Ada", "last_name": "Lovelace"},
    "phones": [{"phone": "+44 20 7946 0958", "wa_id": "442079460958", "type": "WORK"}],
    "emails": [{"email": "ada@example.com", "type": "WORK"}],
    "org": {"company": "Analytical Engines", "title": "Engineer"},
}
CASES: dict[str, tuple[dict[str, Any], Expected]] = {
    "whatsapp contacts": (
        _wa("contacts", contacts=[_CARD]),
        Expected(
            WA_KEY,
            MessageKind.CONTACTS,
            "Ada Lovelace: +44 20 7946 0958; ada@example.com; Analytical Engines, Engineer",
            {"message_type": "contacts"},
        ),
    ),
    "whatsapp location": (
        _wa(
            "location",
            location={"latitude": 37.48, "longitude": -122.15, "name": "HQ", "address": "1 Way"},
        ),
        Expected(
            WA_KEY,
            MessageKind.LOCATION,
            "Location: HQ, 1 Way (https://www.google.com/maps/search/?api=1&query=37.48%2C-122.15)",
            {"latitude": "37.48", "longitude": "-122.15", "place_name": "HQ", "address": "1 Way"},
        ),
    ),
    "whatsapp reaction": (
        _wa("reaction", reaction={"message_id": "wamid.ours", "emoji": "👍"}),
        Expected(
            WA_KEY,
            MessageKind.REACTION,
            "Reacted 👍 to a message",
            {"emoji": "👍", "reacted_to": "wamid.ours"},
            ("wamid.ours",),
        ),
    ),
    "whatsapp reaction taken back": (
        _wa("reaction", reaction={"message_id": "wamid.ours"}),
        Expected(
            WA_KEY,
            MessageKind.REACTION,
            "Took back a reaction",
            {"action": "unreact"},
            ("wamid.ours",),
        ),
    ),
    "whatsapp list reply": (
        _wa(
            "interactive",
            interactive={
                "type": "list_reply",
                "list_reply": {"id": "l2", "title": "Blue", "description": "Navy blue"},
            },
            context={"from": "15550783881", "id": "wamid.menu"},
        ),
        Expected(
            WA_KEY,
            MessageKind.TEXT,
            "Blue",
            {"reply_id": "l2", "reply_description": "Navy blue"},
            ("wamid.menu",),
        ),
    ),
    "whatsapp order": (
        _wa(
            "order",
            order={
                "catalog_id": "cat1",
                "text": "gift wrap please",
                "product_items": [
                    {
                        "product_retailer_id": "SKU-1",
                        "quantity": 2,
                        "item_price": 9.5,
                        "currency": "EUR",
                    }
                ],
            },
        ),
        Expected(
            WA_KEY,
            MessageKind.ORDER,
            "2 x SKU-1 at 9.5 EUR\ngift wrap please",
            {"catalog_id": "cat1"},
        ),
    ),
    "whatsapp number change": (
        _wa(
            "system",
            system={
                "body": "Sheena changed from 16505551234 to 16505559999",
                "new_wa_id": "16505559999",
                "type": "user_changed_number",
            },
        ),
        Expected(
            WA_KEY,
            MessageKind.SYSTEM,
            "Sheena changed from 16505551234 to 16505559999",
            {"system_type": "user_changed_number", "new_wa_id": "16505559999"},
        ),
    ),
    "whatsapp request_welcome": (
        _wa("request_welcome"),
        Expected(
            WA_KEY, MessageKind.SYSTEM, "Opened the chat", {"message_type": "request_welcome"}
        ),
    ),
    "whatsapp ephemeral": (
        _wa("ephemeral"),
        Expected(WA_KEY, MessageKind.SYSTEM, "disappearing message"),
    ),
    "whatsapp unsupported": (
        _wa("unsupported", errors=[{"code": 131051, "title": "Message type unknown"}]),
        Expected(
            WA_KEY,
            MessageKind.SYSTEM,
            "does not support (Message type unknown)",
            {"provider_error": "Message type unknown"},
        ),
    ),
    "whatsapp text from an ad": (
        _wa(
            "text",
            text={"body": "Is the offer still on?"},
            referral={
                "source_url": "https://fb.me/ad",
                "source_id": "ad-77",
                "source_type": "ad",
                "headline": "Winter sale",
                "ctwa_clid": "clid-1",
            },
        ),
        Expected(
            WA_KEY,
            MessageKind.TEXT,
            "Is the offer still on?",
            {"referral_source_id": "ad-77", "referral_headline": "Winter sale"},
        ),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_each_shape_is_published_with_its_content(
    client: httpx.AsyncClient, inbound: Inbound, case: str
) -> None:
    document, expected = CASES[case]
    await published_as(client, inbound, document, expected)


async def test_a_contact_card_keeps_its_structure(
    client: httpx.AsyncClient, inbound: Inbound
) -> None:
    second = {"name": {"first_name": "Grace"}, "phones": [{"wa_id": "15550001111"}]}
    assert (await post(client, encoded(_wa("contacts", contacts=[_CARD, second])))).is_success
    [(_, event)] = await published(inbound, 1)
    assert isinstance(event, InboundMessage)
    assert event.text.splitlines()[1:] == [
        "Ada Lovelace: +44 20 7946 0958; ada@example.com; Analytical Engines, Engineer",
        "Grace: 15550001111",
    ]
    cards = json.loads(event.metadata["contacts"])
    assert cards[0]["emails"] == [{"email": "ada@example.com", "type": "WORK"}]
    assert cards[0]["org"] == {"company": "Analytical Engines", "title": "Engineer"}
    assert cards[1]["phones"] == [{"wa_id": "15550001111"}]
