"""A customer's journey across channels on the real app and database: WhatsApp, then a call
from the same number, then email an agent links; one customer, one history, one owner."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.auth.roles import Role
from router.inbound.envelope import utcnow
from router.models import Conversation
from router.settings import Settings
from tests import seed
from tests.adapters.conftest import SECRETS
from tests.adapters.meta_requests import encoded, post, wa_message, wa_value, whatsapp
from tests.adapters.twilio_requests import call_params, post_signed
from tests.console.conftest import Team, bearer, inline_settings, make_key
from tests.email.customer import CUSTOMER as EMAIL
from tests.email.customer import CustomerMail, post_sendgrid
from tests.support import app_client, conversation_events, customer_of

CALLER = "+12025550173"  # the stored Twilio call's caller
CHANNELS = {"whatsapp": 2, "voice": 1, "email": 2}


async def _conversations_of(
    sessions: async_sessionmaker[AsyncSession], customer: uuid.UUID
) -> list[Conversation]:
    async with sessions() as session:
        found = await session.scalars(
            select(Conversation)
            .where(Conversation.customer_id == customer)
            .order_by(Conversation.created_at, Conversation.id)
        )
        return list(found.all())


async def _events(
    sessions: async_sessionmaker[AsyncSession], cid: uuid.UUID
) -> list[tuple[str, dict[str, Any]]]:
    return [(event.kind, dict(event.details)) for event in await conversation_events(sessions, cid)]


async def test_one_customer_one_history_one_owner_across_whatsapp_a_call_and_email(
    console_settings: Settings, sessions: async_sessionmaker[AsyncSession], team: Team
) -> None:
    # Ada and Bob stay out of it; Cleo and Dan serve the queue. Dan has been idle longest,
    # so he gets the customer's first conversation; after that routing alone would prefer
    # Cleo (idle longer than Dan then): only the sticky owner keeps Dan.
    long_ago = utcnow() - timedelta(hours=2)
    dan = await seed.add_agent(
        sessions, "dan", capacity=CHANNELS, queues=[team.default_queue], idle_since=long_ago
    )
    await seed.add_agent(
        sessions,
        "cleo",
        capacity=CHANNELS,
        queues=[team.default_queue],
        idle_since=long_ago + timedelta(minutes=1),
    )
    dans_key = bearer(await make_key(sessions, Role.AGENT, agent="dan", name="dan"))
    admin = bearer(team.admin_key)
    settings = inline_settings(console_settings, *SECRETS)
    async with app_client(settings) as (_, client):
        for agent in (team.ada, team.bob):
            away = await client.put(
                f"/v1/agents/{agent}/presence", headers=admin, json={"presence": "offline"}
            )
            assert away.status_code == 200, away.text

        # 1. WhatsApp: a new customer; Dan, idle longest, is offered it and answers it.
        message = wa_message("text", 1, text={"body": "Is my order on its way?"})
        message["from"] = CALLER.removeprefix("+")
        contacts = [{"profile": {"name": "Amara"}, "wa_id": CALLER.removeprefix("+")}]
        answered = await post(client, encoded(whatsapp(wa_value([message], contacts=contacts))))
        assert answered.status_code == 200, answered.text
        customer = await customer_of(sessions, "whatsapp", CALLER)
        [chat] = await _conversations_of(sessions, customer)
        assert chat.agent_id == dan
        for step in ("accept", "resolve"):
            done = await client.post(f"/v1/conversations/{chat.id}/{step}", headers=dans_key)
            assert done.status_code == 200, done.text

        # 2. A call from the same number: the same customer, by the number alone, and a new
        # conversation offered first to Dan, who owned the customer's last one.
        called = await post_signed(client, "/webhooks/twilio/voice", call_params())
        assert called.status_code == 200, called.text
        assert await customer_of(sessions, "phone", CALLER) == customer
        [_, call] = await _conversations_of(sessions, customer)
        assert (call.channel, call.agent_id) == ("voice", dan)
        offered = [
            details for kind, details in await _events(sessions, call.id) if kind == "offered"
        ]
        assert offered[-1]["previous_owner"] == {
            "agent_id": str(dan),
            "conversation_id": str(chat.id),
            "offered": True,
        }
        for step in ("accept", "resolve"):
            done = await client.post(f"/v1/conversations/{call.id}/{step}", headers=dans_key)
            assert done.status_code == 200, done.text

        # 3. An email from an address nobody has linked: another customer, for now, so routing
        # has no owner to prefer and gives it to Cleo.
        first_mail = CustomerMail(
            message_id="<order-1@example.net>", subject="My order", text="Any news?"
        )
        mailed = await post_sendgrid(client, first_mail)
        assert mailed.status_code == 200, mailed.text
        stranger = await customer_of(sessions, "email", EMAIL)
        assert stranger != customer
        [mail] = await _conversations_of(sessions, stranger)
        assert mail.agent_id not in (None, dan)

        # She said so on the phone: the supervisor, who may see both customers (Dan reads only
        # his own conversations' customers), links the address.
        linked = await client.post(
            f"/v1/customers/{customer}/identities",
            headers=bearer(team.supervisor_key),
            json={"kind": "email", "value": EMAIL, "reason": "confirmed on the phone"},
        )
        assert linked.status_code == 201, linked.text

        # 4. Her next email thread is hers, and goes first to Dan.
        second_mail = CustomerMail(
            message_id="<order-2@example.net>", subject="Another question", text="And this?"
        )
        mailed = await post_sendgrid(client, second_mail)
        assert mailed.status_code == 200, mailed.text
        whole = await client.get(f"/v1/customers/{customer}", headers=bearer(team.supervisor_key))
        assert whole.status_code == 200, whole.text

    conversations = await _conversations_of(sessions, customer)
    assert [item.channel for item in conversations] == ["whatsapp", "voice", "email", "email"]
    assert await customer_of(sessions, "email", EMAIL) == customer
    latest = conversations[-1]
    assert latest.id != mail.id
    assert latest.agent_id == dan
    offered = [details for kind, details in await _events(sessions, latest.id) if kind == "offered"]
    assert offered[-1]["previous_owner"] == {
        "agent_id": str(dan),
        "conversation_id": str(call.id),
        "offered": True,
    }
    # Every step is in the audit: the merge on the moved conversation, the link in the
    # customer's history, and each conversation's own story.
    assert "customer_merged" in [kind for kind, _ in await _events(sessions, mail.id)]
    body = whole.json()
    assert {(item["kind"], item["value"]) for item in body["identities"]} == {
        ("whatsapp", CALLER),
        ("phone", CALLER),
        ("email", EMAIL),
    }
    assert [item["kind"] for item in body["history"]] == [
        "identity_linked",
        "merged",
        "identity_linked",
    ]
    assert body["history"][0]["reason"] == "confirmed on the phone"
    for conversation in conversations[:2]:
        kinds = [kind for kind, _ in await _events(sessions, conversation.id)]
        assert kinds[0] == "created"
        assert "accepted" in kinds
        assert kinds[-1] == "resolved"
