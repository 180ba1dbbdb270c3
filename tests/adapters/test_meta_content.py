"""Every kind of Meta event, signed as Meta signs it, lands on the inbound topic with its content.

Payloads are shaped as Meta's webhook reference documents them (WhatsApp Cloud API
`messages`, Messenger/Instagram `messaging`, `standby` and `changes`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from router.inbound.envelope import InboundMessage, MessageKind
from tests.adapters.channel_requests import published
from tests.adapters.conftest import Inbound
from tests.adapters.meta_requests import (
    IG_ACCOUNT,
    LINE,
    PAGE,
    encoded,
    from_customer,
    post,
    social,
    social_changes,
    wa_message,
    wa_value,
    whatsapp,
)

WA_KEY = f"whatsapp:{LINE}|16505551234"
IG_KEY = f"instagram:{IG_ACCOUNT}|9001"
MS_KEY = f"messenger:{PAGE}|111"


@dataclass
class Expected:
    """What the one published message must say."""

    key: str
    kind: MessageKind
    text: str
    metadata: dict[str, str] = field(default_factory=dict)
    references: tuple[str, ...] = ()
    urls: tuple[str, ...] = ()


def _wa(kind: str, **content: Any) -> dict[str, Any]:
    return whatsapp(wa_value(messages=[wa_message(kind, 1, **content)]))


def _ig(**event: Any) -> dict[str, Any]:
    return social("instagram", [from_customer("9001", IG_ACCOUNT, **event)], IG_ACCOUNT)


def _ms(**event: Any) -> dict[str, Any]:
    return social("page", [from_customer("111", **event)])


_CARD = {
    "name": {"formatted_name": "Ada Lovelace", "first_name": "Ada", "last_name": "Lovelace"},
    "phones": [{"phone": "+44 20 7946 0958", "wa_id": "442079460958", "type": "WORK"}],
    "emails": [{"email": "ada@example.com", "type": "WORK"}],
    "org": {"company": "Analytical Engines", "title": "Engineer"},
}
_IG_COMMENT = {
    "from": {"id": "9001", "username": "ada.l"},
    "media": {"id": "17890001", "media_product_type": "FEED"},
    "id": "17865799348089039",
    "text": "Is this in stock in blue?",
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
    "instagram story mention": (
        _ig(
            message={
                "mid": "ig.sm",
                "attachments": [
                    {"type": "story_mention", "payload": {"url": "https://lookaside.example/s1"}}
                ],
            }
        ),
        Expected(
            IG_KEY,
            MessageKind.STORY,
            "Mentioned the business in their story: https://lookaside.example/s1",
            {"story_mention": "true", "story_url": "https://lookaside.example/s1"},
        ),
    ),
    "instagram story reply": (
        _ig(
            message={
                "mid": "ig.sr",
                "text": "Love this!",
                "reply_to": {"story": {"url": "https://lookaside.example/s2", "id": "st2"}},
            }
        ),
        Expected(
            IG_KEY,
            MessageKind.STORY,
            "Love this!",
            {"story_id": "st2", "story_url": "https://lookaside.example/s2"},
        ),
    ),
    "instagram shared post": (
        _ig(
            message={
                "mid": "ig.sh",
                "attachments": [{"type": "share", "payload": {"url": "https://cdn.example/p"}}],
            }
        ),
        Expected(
            IG_KEY,
            MessageKind.MEDIA,
            "(share)",
            {"message_type": "share"},
            (),
            ("https://cdn.example/p",),
        ),
    ),
    "instagram reel": (
        _ig(
            message={
                "mid": "ig.reel",
                "attachments": [
                    {
                        "type": "ig_reel",
                        "payload": {
                            "url": "https://cdn.example/r",
                            "title": "Unboxing",
                            "reel_video_id": "rv1",
                        },
                    }
                ],
            }
        ),
        Expected(
            IG_KEY,
            MessageKind.MEDIA,
            "(Unboxing)",
            {"reel_video_id": "rv1"},
            (),
            ("https://cdn.example/r",),
        ),
    ),
    "instagram reaction": (
        _ig(reaction={"mid": "ig.ours", "action": "react", "reaction": "love", "emoji": "❤"}),
        Expected(
            IG_KEY, MessageKind.REACTION, "Reacted ❤", {"reacted_to": "ig.ours"}, ("ig.ours",)
        ),
    ),
    "instagram standby message": (
        social_changes(
            "instagram",
            IG_ACCOUNT,
            standby=[from_customer("9001", IG_ACCOUNT, message={"mid": "ig.sb", "text": "hello?"})],
        ),
        Expected(IG_KEY, MessageKind.TEXT, "hello?", {"standby": "true"}),
    ),
    "instagram comment": (
        social_changes("instagram", IG_ACCOUNT, ("comments", _IG_COMMENT)),
        Expected(
            f"instagram:{IG_ACCOUNT}|comment:17890001|17865799348089039",
            MessageKind.COMMENT,
            "Is this in stock in blue?",
            {"post_id": "17890001", "comment_id": "17865799348089039", "message_type": "comment"},
        ),
    ),
    "instagram comment reply": (
        social_changes(
            "instagram",
            IG_ACCOUNT,
            ("comments", {**_IG_COMMENT, "id": "1786580", "parent_id": "17865799348089039"}),
        ),
        Expected(
            f"instagram:{IG_ACCOUNT}|comment:17890001|17865799348089039",
            MessageKind.COMMENT,
            "Is this in stock",
            {"parent_id": "17865799348089039", "comment_id": "1786580"},
            ("17865799348089039",),
        ),
    ),
    "instagram mention in a comment": (
        social_changes(
            "instagram", IG_ACCOUNT, ("mentions", {"media_id": "17918195", "comment_id": "1789422"})
        ),
        Expected(
            f"instagram:{IG_ACCOUNT}|mention:17918195|1789422",
            MessageKind.MENTION,
            "Mentioned the account in a comment on media 17918195",
            {"post_id": "17918195", "comment_id": "1789422"},
        ),
    ),
    "page feed comment": (
        social_changes(
            "page",
            PAGE,
            (
                "feed",
                {
                    "from": {"id": "5551", "name": "Grace Hopper"},
                    "post": {"id": f"{PAGE}_222", "permalink_url": "https://facebook.com/p/222"},
                    "message": "Do you deliver on Sundays?",
                    "post_id": f"{PAGE}_222",
                    "comment_id": "222_333",
                    "created_time": 1749416383,
                    "item": "comment",
                    "parent_id": f"{PAGE}_222",
                    "verb": "add",
                },
            ),
        ),
        Expected(
            f"messenger:{PAGE}|comment:{PAGE}_222|222_333",
            MessageKind.COMMENT,
            "Do you deliver on Sundays?",
            {
                "post_id": f"{PAGE}_222",
                "comment_id": "222_333",
                "permalink_url": "https://facebook.com/p/222",
                "message_type": "feed_comment",
            },
        ),
    ),
    "messenger location": (
        _ms(
            message={
                "mid": "m.loc",
                "attachments": [
                    {
                        "type": "location",
                        "title": "Pinned",
                        "payload": {"coordinates": {"lat": 59.91, "long": 10.75}},
                    }
                ],
            }
        ),
        Expected(MS_KEY, MessageKind.LOCATION, "Location: Pinned", {"latitude": "59.91"}),
    ),
    "messenger fallback link": (
        _ms(
            message={
                "mid": "m.fb",
                "attachments": [
                    {"type": "fallback", "title": "Our shop", "url": "https://shop.example"}
                ],
            }
        ),
        Expected(MS_KEY, MessageKind.TEXT, "Our shop https://shop.example"),
    ),
    "messenger ad referral": (
        _ms(referral={"ref": "winter", "source": "ADS", "type": "OPEN_THREAD", "ad_id": "ad-9"}),
        Expected(
            MS_KEY,
            MessageKind.SYSTEM,
            "Came to the conversation from ads (ref winter)",
            {"referral_ad_id": "ad-9", "message_type": "referral"},
        ),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_each_shape_is_published_with_its_content(
    client: httpx.AsyncClient, inbound: Inbound, case: str
) -> None:
    document, expected = CASES[case]
    response = await post(client, encoded(document))
    assert (response.status_code, response.content) == (200, b"EVENT_RECEIVED")

    [(_, event)] = await published(inbound, 1)
    assert isinstance(event, InboundMessage)
    assert event.conversation_key == expected.key
    assert event.kind is expected.kind
    assert expected.text in event.text
    assert event.text == event.stripped_text
    assert expected.metadata.items() <= event.metadata.items(), event.metadata
    assert event.references == expected.references
    assert tuple(a.url for a in event.attachments) == expected.urls


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
