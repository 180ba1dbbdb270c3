"""The inbound envelope on the topic: the wrapper's exact bytes, and event ids."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from router.channels import Channel, IdentityKind
from router.inbound.envelope import (
    Attachment,
    CallStatus,
    CallUpdate,
    CustomerIdentity,
    DeliveryStatus,
    DeliveryUpdate,
    Event,
    InboundMessage,
    MessageKind,
    decode,
    encode,
    new_event_id,
    storable,
    to_cloud_event,
)


def _text(least: int = 0, most: int = 60) -> st.SearchStrategy[str]:
    # Any code point but lone surrogates, which no JSON document or webhook can carry.
    return st.text(st.characters(exclude_categories=["Cs"]), min_size=least, max_size=most)


def _maybe(strategy: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.one_of(st.none(), strategy)


_instants = st.datetimes(
    min_value=datetime(1970, 1, 2),
    max_value=datetime(2200, 1, 1),
    timezones=st.sampled_from(
        [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-4))]
    ),
)
_attachments = st.builds(
    Attachment,
    filename=_maybe(_text(0, 20)),
    content_type=_text(0, 30),
    size=_maybe(st.integers(0, 2**40)),
    url=_maybe(_text(0, 40)),
)
_messages = st.builds(
    InboundMessage,
    event_id=_text(0, 40),
    channel=st.sampled_from(Channel),
    provider=_text(1, 40),
    provider_message_id=_text(1, 60),
    conversation_key=_text(1, 80),
    customer=st.builds(
        CustomerIdentity,
        kind=st.sampled_from(IdentityKind),
        value=_text(1, 40),
        display_name=_maybe(_text(0, 20)),
        normalised=_maybe(st.booleans()),
        provider_value=_maybe(_text(1, 40)),
    ),
    recipient=_text(1, 40),
    kind=st.sampled_from(MessageKind),
    subject=_maybe(_text()),
    text=_text(0, 200),
    stripped_text=_text(0, 200),
    attachments=st.lists(_attachments, max_size=3).map(tuple),
    references=st.lists(_text(0, 30), max_size=3).map(tuple),
    provider_timestamp=_maybe(_instants),
    received_at=_instants,
    metadata=st.dictionaries(_text(0, 12), _text(0, 30), max_size=4),
)
_updates = st.builds(
    DeliveryUpdate,
    event_id=_text(0, 40),
    channel=st.sampled_from(Channel),
    provider=_text(1, 40),
    provider_message_id=_text(1, 60),
    conversation_key=_text(1, 80),
    status=st.sampled_from(DeliveryStatus),
    error=_maybe(_text()),
    provider_timestamp=_maybe(_instants),
    received_at=_instants,
)


_calls = st.builds(
    CallUpdate,
    event_id=_text(0, 40),
    provider=_text(1, 40),
    provider_message_id=_text(1, 60),
    conversation_key=_text(1, 80),
    status=st.sampled_from(CallStatus),
    duration_seconds=_maybe(st.integers(0, 10**6)),
    call=_messages,
    provider_timestamp=_maybe(_instants),
    received_at=_instants,
)


@given(st.one_of(_messages, _updates, _calls))
def test_encode_writes_the_cloud_event_models_bytes(event: Event) -> None:
    # Text PostgreSQL cannot store (NUL, lone surrogates) is replaced before it is written.
    written = storable(event)
    assert encode(event) == to_cloud_event(written).model_dump_json(exclude_none=True).encode()
    assert decode(encode(event)) == written


def test_event_ids_are_random_uuids_in_canonical_form() -> None:
    ids = {new_event_id() for _ in range(2000)}
    assert len(ids) == 2000
    for text in ids:
        parsed = uuid.UUID(text)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == text
