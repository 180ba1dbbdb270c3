"""The web-chat widget's `verified` identities: carried on the envelope, and only they are."""

from __future__ import annotations

import httpx

from router.channels import IdentityKind
from router.inbound.envelope import CustomerIdentity, InboundMessage
from tests.adapters.channel_requests import published
from tests.adapters.conftest import Inbound
from tests.adapters.test_webchat import chat_event, encoded, post


async def test_verified_email_and_phone_travel_as_identities_in_their_stored_form(
    client: httpx.AsyncClient, inbound: Inbound
) -> None:
    event = chat_event(
        visitor={"id": "v_81d0", "name": "Ada", "email": "typed@example.com"},
        verified={"email": "Ada.Lovelace@Example.COM", "phone": "+1 (415) 555-0199"},
    )
    response = await post(client, encoded(event))
    assert response.status_code == 200, response.text
    [(_, message)] = await published(inbound, 1)
    assert isinstance(message, InboundMessage)
    assert message.verified_identities == (
        CustomerIdentity(kind=IdentityKind.EMAIL, value="ada.lovelace@example.com"),
        CustomerIdentity(
            kind=IdentityKind.PHONE,
            value="+14155550199",
            normalised=True,
            provider_value="+1 (415) 555-0199",
        ),
    )
    # What the visitor merely typed is kept, and never becomes an identity.
    assert message.metadata["visitor_email"] == "typed@example.com"


async def test_unreadable_verified_values_are_kept_aside_and_the_message_taken(
    client: httpx.AsyncClient, inbound: Inbound
) -> None:
    event = chat_event(verified={"email": "not an address", "phone": "MyBank"})
    response = await post(client, encoded(event))
    assert response.status_code == 200, response.text
    [(_, message)] = await published(inbound, 1)
    assert isinstance(message, InboundMessage)
    assert message.verified_identities is None
    assert message.metadata["verified_email_unread"] == "not an address"
    assert message.metadata["verified_phone_unread"] == "MyBank"


async def test_without_verified_fields_the_envelope_is_as_before(
    client: httpx.AsyncClient, inbound: Inbound
) -> None:
    response = await post(client, encoded(chat_event()))
    assert response.status_code == 200, response.text
    [(record, message)] = await published(inbound, 1)
    assert isinstance(message, InboundMessage)
    assert message.verified_identities is None
    assert b"verified_identities" not in record.value
