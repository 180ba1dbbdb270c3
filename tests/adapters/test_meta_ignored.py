"""What the Meta webhook leaves out: counted by reason and logged, never refused, never silent.

A signed notification is never refused for one event's shape: that event is counted and
skipped, the rest of the batch is published, and the answer is still 200.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from router.inbound.envelope import InboundMessage
from tests.adapters.channel_requests import nothing_published, published
from tests.adapters.conftest import Inbound
from tests.adapters.meta_requests import (
    IG_ACCOUNT,
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

_VALUE = "entry[0].changes[0].value"
_GOOD_TEXT = wa_message("text", 99, text={"body": "still here"})
_GOOD_EVENT = from_customer("111", message={"mid": "m.good", "text": "still here"})


def ignored(reason: str) -> float:
    labels = {"provider": "meta", "reason": reason}
    return REGISTRY.get_sample_value("router_webhook_events_ignored_total", labels) or 0.0


def _wa_batch(bad: dict[str, Any], **value: Any) -> dict[str, Any]:
    """A notification whose first message is `bad` and second one is fine."""
    return whatsapp(wa_value(messages=[bad, _GOOD_TEXT], **value))


def _social_batch(bad: dict[str, Any]) -> dict[str, Any]:
    return social("page", [bad, _GOOD_EVENT])


@pytest.mark.parametrize(
    ("document", "path", "detail"),
    [
        (
            # No `from`, and no single contact in the value to say who wrote.
            _wa_batch({"id": "w", "type": "text", "text": {"body": "x"}}, contacts=[]),
            f"{_VALUE}.messages[0]",
            f"{_VALUE}.messages[0].from: missing",
        ),
        (
            _wa_batch({**wa_message("text", 1, text={"body": "x"}), "from": ""}),
            f"{_VALUE}.messages[0]",
            f"{_VALUE}.messages[0].from: String should have at least 1 character",
        ),
        (
            _wa_batch({"from": "16505551234", "type": "text"}),
            f"{_VALUE}.messages[0]",
            f"{_VALUE}.messages[0].id: missing",
        ),
        (
            _wa_batch(wa_message("text", 1)),
            f"{_VALUE}.messages[0]",
            f"{_VALUE}.messages[0].text: missing",
        ),
        (
            _wa_batch(wa_message("image", 1)),
            f"{_VALUE}.messages[0]",
            f"{_VALUE}.messages[0].image: missing",
        ),
        (
            _wa_batch({**wa_message("text", 1, text={"body": "x"}), "timestamp": "soon"}),
            f"{_VALUE}.messages[0]",
            f"{_VALUE}.messages[0].timestamp: Input should be a valid integer",
        ),
        (
            whatsapp(
                wa_value(messages=[wa_message("text", 1, text={"body": "x"})], metadata=None),
                wa_value(messages=[_GOOD_TEXT]),
            ),
            "entry[0].changes[0]",
            f"{_VALUE}.metadata: missing",
        ),
        (
            whatsapp(wa_value(messages=[_GOOD_TEXT], statuses=[{"id": "w", "status": "read"}])),
            f"{_VALUE}.statuses[0]",
            f"{_VALUE}.statuses[0].recipient_id: missing",
        ),
        (
            _social_batch({"recipient": {"id": PAGE}, "message": {"mid": "m", "text": "x"}}),
            "entry[0].messaging[0]",
            "entry[0].messaging[0].sender: missing",
        ),
        (
            _social_batch(from_customer("1", message={"text": "no mid"})),
            "entry[0].messaging[0]",
            "entry[0].messaging[0].message.mid: missing",
        ),
        (
            _social_batch(from_customer("1", postback={"title": "x"}) | {"timestamp": None}),
            "entry[0].messaging[0]",
            "entry[0].messaging[0].timestamp: missing",
        ),
    ],
)
async def test_an_event_we_cannot_read_is_counted_and_the_rest_goes_through(
    client: httpx.AsyncClient,
    inbound: Inbound,
    caplog: pytest.LogCaptureFixture,
    document: dict[str, Any],
    path: str,
    detail: str,
) -> None:
    before = ignored("malformed")
    caplog.set_level(logging.DEBUG, logger="adapters.channels.meta")
    response = await post(client, encoded(document))
    assert (response.status_code, response.content) == (200, b"EVENT_RECEIVED")

    [(_, event)] = await published(inbound, 1)
    assert isinstance(event, InboundMessage)
    assert event.text == "still here"
    assert ignored("malformed") == before + 1
    [line] = [r for r in caplog.records if r.getMessage() == "meta event ignored"]
    assert (line.__dict__["reason"], line.__dict__["path"]) == ("malformed", path)
    assert line.__dict__["detail"].startswith(detail), line.__dict__["detail"]


async def test_events_left_out_on_purpose_are_counted_by_reason(
    client: httpx.AsyncClient, inbound: Inbound
) -> None:
    reasons = [
        "echo",
        "deleted",
        "read_watermark",
        "other_event",
        "other_field",
        "not_delivery",
        "feed_item",
        "comment_removed",
    ]
    before = {reason: ignored(reason) for reason in reasons}
    messenger = social(
        "page",
        [
            # Our own reply, echoed back: sender is the page.
            {
                "sender": {"id": PAGE},
                "recipient": {"id": "111"},
                "timestamp": 1458692752479,
                "message": {"mid": "m.ours", "is_echo": True, "text": "Hi"},
            },
            from_customer("111", message={"mid": "m.gone", "is_deleted": True}),
            from_customer("111", read={}),
            from_customer("111", optin={"ref": "newsletter"}),
        ],
    )
    feed = social_changes(
        "page",
        PAGE,
        ("feed", {"item": "reaction", "verb": "add", "reaction_type": "like", "post_id": "p"}),
        ("feed", {"item": "comment", "verb": "remove", "comment_id": "c", "post_id": "p"}),
        (
            "feed",
            {
                "item": "comment",
                "verb": "add",
                "from": {"id": PAGE, "name": "Our page"},
                "comment_id": "c2",
                "post_id": "p",
                "message": "Thanks!",
            },
        ),
    )
    ours = {"from": {"id": IG_ACCOUNT}, "media": {"id": "m1"}, "id": "c3", "text": "Thanks!"}
    instagram = social_changes("instagram", IG_ACCOUNT, ("comments", ours))
    wa = whatsapp(wa_value(statuses=[{"id": "w", "status": "deleted", "recipient_id": "1650"}]))
    wa["entry"].append(whatsapp({"event": "VERIFIED_ACCOUNT"}, field="account_update")["entry"][0])
    for document in (messenger, feed, instagram, wa):
        response = await post(client, encoded(document))
        assert (response.status_code, response.content) == (200, b"EVENT_RECEIVED")

    await nothing_published(inbound)
    counted = {reason: ignored(reason) - before[reason] for reason in reasons}
    assert counted == {
        "echo": 3,
        "deleted": 1,
        "read_watermark": 1,
        "other_event": 1,
        "other_field": 1,
        "not_delivery": 1,
        "feed_item": 1,
        "comment_removed": 1,
    }
