"""Every Messenger, Instagram and Page event shape, signed, lands on the topic with its content.

Payloads are shaped as Meta's webhook reference documents them: `messaging`, `standby` and
`changes` (Instagram `comments` and `mentions`, Page `feed`).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from router.inbound.envelope import MessageKind
from tests.adapters.conftest import Inbound
from tests.adapters.meta_requests import (
    IG_ACCOUNT,
    PAGE,
    Expected,
    from_customer,
    published_as,
    social,
    social_changes,
)

IG_KEY = f"instagram:{IG_ACCOUNT}|9001"
MS_KEY = f"messenger:{PAGE}|111"


def _ig(**event: Any) -> dict[str, Any]:
    return social("instagram", [from_customer("9001", IG_ACCOUNT, **event)], IG_ACCOUNT)


def _ms(**event: Any) -> dict[str, Any]:
    return social("page", [from_customer("111", **event)])


_IG_COMMENT = {
    "from": {"id": "9001", "username": "ada.l"},
    "media": {"id": "17890001", "media_product_type": "FEED"},
    "id": "17865799348089039",
    "text": "Is this in stock in blue?",
}

CASES: dict[str, tuple[dict[str, Any], Expected]] = {
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
    await published_as(client, inbound, document, expected)
