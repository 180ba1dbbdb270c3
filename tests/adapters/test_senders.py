"""Senders as the providers sign them: every number reaches the topic, none is refused.

Each sender goes through Twilio SMS, Twilio WhatsApp and Meta's WhatsApp webhook, signed as
those providers sign; the identity on the topic is E.164 when the numbering plan places the
number, else the provider's value as given, and says which one it is.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from router.inbound.envelope import InboundMessage
from tests.adapters.channel_requests import by_conversation, published
from tests.adapters.conftest import Inbound
from tests.adapters.meta_requests import LINE as META_LINE
from tests.adapters.meta_requests import encoded, post, wa_message, wa_value, whatsapp
from tests.adapters.twilio_requests import EMPTY_TWIML, LINE, post_signed, sms_params

SMS = "/webhooks/twilio/sms"

# (sender as Twilio signs it, the identity's value, whether that value is E.164)
NUMBERS = [
    pytest.param("+5215512345678", "+5215512345678", False, id="mexico-521-whatsapp-form"),
    pytest.param("+525512345678", "+525512345678", True, id="mexico"),
    pytest.param("+5491123456789", "+5491123456789", True, id="argentina-549"),
    pytest.param("+541123456789", "+541123456789", True, id="argentina-54"),
    pytest.param("+5511987654321", "+5511987654321", True, id="brazil-ninth-digit"),
    pytest.param("+551187654321", "+551187654321", True, id="brazil-without-ninth-digit"),
    pytest.param("+447911123456", "+447911123456", True, id="uk"),
    pytest.param("+919876543210", "+919876543210", True, id="india"),
    pytest.param("+4915123456789", "+4915123456789", True, id="germany"),
    pytest.param("+14155550123", "+14155550123", True, id="us"),
    pytest.param("+16045550123", "+16045550123", True, id="canada"),
    pytest.param("+2348031234567", "+2348031234567", True, id="nigeria"),
    pytest.param("+6281234567890", "+6281234567890", True, id="indonesia"),
    pytest.param("+44123", "+44123", False, id="impossible-for-its-country"),
]


def _identity(event: Any) -> tuple[str, str, bool | None, str | None]:
    assert isinstance(event, InboundMessage)
    customer = event.customer
    return (customer.kind, customer.value, customer.normalised, customer.provider_value)


@pytest.mark.parametrize(("signed", "value", "normalised"), NUMBERS)
async def test_every_number_reaches_the_topic_through_every_webhook(
    client: httpx.AsyncClient, inbound: Inbound, signed: str, value: str, normalised: bool
) -> None:
    sms = sms_params(MessageSid="SMsms", From=signed)
    wa = sms_params(
        MessageSid="SMwa", From=f"whatsapp:{signed}", To=f"whatsapp:{LINE}", WaId=signed[1:]
    )
    for params in (sms, wa):
        response = await post_signed(client, SMS, params)
        assert (response.status_code, response.content) == (200, EMPTY_TWIML)
    # Meta writes the number in international form without the `+`.
    meta = whatsapp(
        wa_value(messages=[{**wa_message("text", 1, text={"body": "hi"}), "from": signed[1:]}])
    )
    assert (await post(client, encoded(meta))).status_code == 200

    found = by_conversation(await published(inbound, 3))
    [sms_event] = found[f"sms:{value}|{LINE}"]
    assert _identity(sms_event) == ("phone", value, normalised, signed)
    [wa_event] = found[f"whatsapp:{value}|{LINE}"]
    assert _identity(wa_event) == ("whatsapp", value, normalised, f"whatsapp:{signed}")
    [meta_event] = found[f"whatsapp:{META_LINE}|{signed[1:]}"]
    meta_value = value if normalised else signed[1:]
    assert _identity(meta_event) == ("whatsapp", meta_value, normalised, signed[1:])


@pytest.mark.parametrize("signed", ["12345", "+12345", "MyBank", "VERIFY"])
async def test_short_codes_and_sender_ids_are_senders(
    client: httpx.AsyncClient, inbound: Inbound, signed: str
) -> None:
    response = await post_signed(client, SMS, sms_params(From=signed, FromCountry="US"))
    assert response.status_code == 200
    [(_, event)] = await published(inbound, 1)
    assert _identity(event) == ("phone", signed, False, signed)
    assert event.conversation_key == f"sms:{signed}|{LINE}"


async def test_one_number_from_sms_and_whatsapp_forms_is_one_value(
    client: httpx.AsyncClient, inbound: Inbound
) -> None:
    # Twilio's form, Meta's form and a formatted one: one E.164 value for the identity.
    for sid, sender in (("SM1", "whatsapp:+447911123456"), ("SM2", "whatsapp:+44 7911 123456")):
        params = sms_params(MessageSid=sid, From=sender, To=f"whatsapp:{LINE}")
        assert (await post_signed(client, SMS, params)).status_code == 200
    meta = whatsapp(
        wa_value(messages=[{**wa_message("text", 1, text={"body": "x"}), "from": "447911123456"}])
    )
    assert (await post(client, encoded(meta))).status_code == 200
    events = [event for _, event in await published(inbound, 3)]
    assert {
        (e.customer.kind, e.customer.value) for e in events if isinstance(e, InboundMessage)
    } == {("whatsapp", "+447911123456")}


async def test_an_sms_sid_without_a_message_sid_is_the_message_id(
    client: httpx.AsyncClient, inbound: Inbound
) -> None:
    legacy = sms_params(MessageSid=None, SmsSid="SM0000000000000000000000000000legacy")
    for _ in range(2):
        assert (await post_signed(client, SMS, legacy)).status_code == 200
    events = [event for _, event in await published(inbound, 2)]
    assert [e.provider_message_id for e in events] == ["SM0000000000000000000000000000legacy"] * 2


async def test_a_whatsapp_message_without_from_is_known_by_its_wa_id(
    client: httpx.AsyncClient, inbound: Inbound
) -> None:
    params = sms_params(From=None, To=f"whatsapp:{LINE}", WaId="5215512345678")
    assert (await post_signed(client, SMS, params)).status_code == 200
    [(_, event)] = await published(inbound, 1)
    assert _identity(event) == ("whatsapp", "5215512345678", False, "5215512345678")


async def test_one_bad_entry_never_drops_the_rest_of_a_meta_batch(
    client: httpx.AsyncClient, inbound: Inbound
) -> None:
    good = wa_message("text", 1, text={"body": "my order"})
    unnamed = {
        key: value
        for key, value in wa_message("text", 2, text={"body": "hi"}).items()
        if key != "from"
    }
    broken = {"from": "16505551234", "type": "text", "text": {"body": "no id"}}
    odd = {**wa_message("text", 3, text={"body": "hola"}), "from": "5215512345678"}
    bad_status = {"id": "wamid.out.1", "status": "read"}  # no recipient_id
    status = {"id": "wamid.out.2", "status": "delivered", "recipient_id": "16505551234"}
    document = whatsapp(
        wa_value(messages=[good, broken, unnamed, odd], statuses=[bad_status, status]),
        {"metadata": {"phone_number_id": META_LINE}, "messages": "not a list"},
    )
    assert (await post(client, encoded(document))).status_code == 200
    found = by_conversation(await published(inbound, 4))
    contact = found[f"whatsapp:{META_LINE}|16505551234"]
    assert [e.provider_message_id for e in contact] == [
        "wamid.text.1",
        "wamid.text.2",  # no `from`, but the value's single contact names the sender
        "wamid.out.2",
    ]
    assert _identity(contact[1]) == ("whatsapp", "+16505551234", True, "16505551234")
    [mexican] = found[f"whatsapp:{META_LINE}|5215512345678"]
    assert _identity(mexican) == ("whatsapp", "5215512345678", False, "5215512345678")
