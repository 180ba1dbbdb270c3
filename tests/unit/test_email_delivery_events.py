"""Providers' delivery events of the email we send: read what they say, never trip on odd ones."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.channels.email.delivery import mailgun_update, postmark_update, sendgrid_updates
from router.inbound.envelope import DeliveryStatus

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=8,
)
_FIELDS = st.sampled_from(
    [
        "RecordType",
        "MessageID",
        "Type",
        "Description",
        "Details",
        "DeliveredAt",
        "BouncedAt",
        "ReceivedAt",
        "event",
        "router_message_id",
        "timestamp",
        "reason",
        "type",
        "severity",
        "message",
        "delivery-status",
    ]
)
_EVENTS = st.dictionaries(
    _FIELDS,
    _JSON
    | st.sampled_from(
        [
            "Delivery",
            "Bounce",
            "Open",
            "delivered",
            "bounce",
            "failed",
            "opened",
            "0001-01-01T00:00:00+01:00",
        ]
    ),
    max_size=8,
)


# Generation is timed by the wall clock: a busy machine must not fail the test.
@settings(suppress_health_check=[HealthCheck.too_slow])
@given(_EVENTS)
def test_odd_events_never_raise(event: dict[str, Any]) -> None:
    postmark_update(event)
    mailgun_update(event)
    sendgrid_updates([event, event.get("message")])


def test_postmark_records_map_to_statuses() -> None:
    delivered = postmark_update(
        {"RecordType": "Delivery", "MessageID": "m1", "DeliveredAt": "2026-12-02T09:00:00Z"}
    )
    assert delivered is not None
    assert (delivered.status, delivered.provider_timestamp) == (
        DeliveryStatus.DELIVERED,
        datetime(2026, 12, 2, 9, tzinfo=UTC),
    )
    assert postmark_update({"RecordType": "Bounce", "MessageID": "m1", "Type": "Transient"}) is None
    assert postmark_update({"RecordType": "SpamComplaint", "MessageID": "m1"}) is None
    assert postmark_update({"RecordType": "Delivery"}) is None  # names no message


def test_sendgrid_events_of_other_mail_are_skipped() -> None:
    events: list[object] = [
        {"event": "delivered", "router_message_id": "<A@Shop.example>", "timestamp": 1764666000},
        {"event": "delivered"},
        {"event": "processed", "router_message_id": "a@shop.example"},
        "not an event",
    ]
    [update] = sendgrid_updates(events)
    assert (update.provider_message_id, update.status) == (
        "a@shop.example",
        DeliveryStatus.DELIVERED,
    )


def test_mailgun_temporary_failures_wait_for_the_outcome() -> None:
    message = {"headers": {"message-id": "a@shop.example"}}
    assert mailgun_update({"event": "failed", "severity": "temporary", "message": message}) is None
    failed = mailgun_update(
        {"event": "failed", "severity": "permanent", "reason": "bounce", "message": message}
    )
    assert failed is not None
    assert (failed.status, failed.error) == (DeliveryStatus.FAILED, "bounce")
