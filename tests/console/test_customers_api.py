"""`/v1/customers` on the real app and database: lookup, attributes, linking, merge and undo."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.models import (
    Conversation,
    ConversationEvent,
    Customer,
    CustomerMerge,
)
from router.routing.engine import RoutingEngine
from router.settings import Settings
from tests import factories, seed
from tests.adapters.conftest import SECRETS
from tests.adapters.meta_requests import encoded, post, wa_message, wa_value, whatsapp
from tests.adapters.payloads import payload, send
from tests.adapters.twilio_requests import call_params, post_signed
from tests.console.conftest import Team, bearer, inline_settings
from tests.support import app_client, conversation_events, customer_of, refusal

CALLER = "+12025550173"  # the stored Twilio call's caller
EMAIL = "amara.okafor@example.com"  # the stored Postmark email's sender


async def _conversations(sessions: async_sessionmaker[AsyncSession]) -> dict[uuid.UUID, uuid.UUID]:
    async with sessions() as session:
        rows = await session.execute(select(Conversation.id, Conversation.customer_id))
        return dict(rows.all())


async def test_journey_whatsapp_then_a_call_then_an_email_an_agent_links(
    console_settings: Settings, sessions: async_sessionmaker[AsyncSession], team: Team
) -> None:
    # Three conversations, not one continued.
    settings = inline_settings(console_settings, *SECRETS, continuity_window_minutes=0)
    async with app_client(settings) as (_, client):
        message = {**wa_message("text", 1, text={"body": "Is my order on its way?"})}
        message["from"] = CALLER.removeprefix("+")
        contacts = [{"profile": {"name": "Amara"}, "wa_id": CALLER.removeprefix("+")}]
        document = whatsapp(wa_value([message], contacts=contacts))
        answered = await post(client, encoded(document))
        assert answered.status_code == 200, answered.text
        called = await post_signed(client, "/webhooks/twilio/voice", call_params())
        assert called.status_code == 200, called.text
        mailed = await send(client, payload("postmark_inbound.json"))
        assert mailed.status_code == 200, mailed.text

        # The call's number is the WhatsApp number: one customer, without anyone's say.
        customer = await customer_of(sessions, "whatsapp", CALLER)
        assert await customer_of(sessions, "phone", CALLER) == customer
        assert await customer_of(sessions, "email", EMAIL) != customer
        assert len(await _conversations(sessions)) == 3

        ada = bearer(team.ada_key)
        found = await client.get(
            "/v1/customers", params={"identity": f"whatsapp:{CALLER}"}, headers=ada
        )
        assert found.status_code == 200, found.text
        assert found.json()["id"] == str(customer)
        assert {(i["kind"], i["source"]) for i in found.json()["identities"]} == {
            ("whatsapp", "first_contact"),
            ("phone", "same_number"),
        }

        # Ada was offered the email too: she links it, with her evidence.
        linked = await client.post(
            f"/v1/customers/{customer}/identities",
            headers=ada,
            json={"kind": "email", "value": EMAIL.upper(), "reason": "she confirmed it by phone"},
        )
        assert linked.status_code == 201, linked.text

        supervisor = bearer(team.supervisor_key)
        whole = await client.get(f"/v1/customers/{customer}", headers=supervisor)
        body = whole.json()
        # The conversations come in pages, oldest first.
        first = (
            await client.get(f"/v1/customers/{customer}", params={"limit": 2}, headers=supervisor)
        ).json()
        rest = (
            await client.get(
                f"/v1/customers/{customer}",
                params={"limit": 2, "cursor": first["next_cursor"]},
                headers=supervisor,
            )
        ).json()
    assert [item["channel"] for item in first["conversations"] + rest["conversations"]] == [
        "whatsapp",
        "voice",
        "email",
    ]
    assert rest["next_cursor"] is None
    assert {(i["kind"], i["value"]) for i in body["identities"]} == {
        ("whatsapp", CALLER),
        ("phone", CALLER),
        ("email", EMAIL),
    }
    assert len(body["conversations"]) == 3
    assert {item["channel"] for item in body["conversations"]} == {"whatsapp", "voice", "email"}
    assert set((await _conversations(sessions)).values()) == {customer}
    # Newest first: Ada's link (and the merge it made of the email's customer), then the
    # router's own link of the call's number.
    kinds = [(item["kind"], item["actor"].split(":")[0]) for item in body["history"]]
    assert kinds == [
        ("identity_linked", "agent"),
        ("merged", "agent"),
        ("identity_linked", "router"),
    ]
    agents_link, merge, numbers_link = body["history"]
    assert agents_link["reason"] == "she confirmed it by phone"
    assert agents_link["details"]["value"] == EMAIL
    assert agents_link["details"]["merge_id"]
    assert len(merge["details"]["conversations"]) == 1
    assert numbers_link["details"] == {"kind": "phone", "value": CALLER, "source": "same_number"}
    async with sessions() as session:
        standing = (
            await session.scalars(select(Customer).where(Customer.merged_into_id.is_(None)))
        ).all()
        moved = (
            await session.scalars(
                select(ConversationEvent).where(ConversationEvent.kind == "customer_merged")
            )
        ).all()
    assert [item.id for item in standing] == [customer]
    [event] = moved
    assert (event.actor_kind, event.actor_id) == ("agent", str(team.ada))


async def test_tier_set_through_the_api_routes_the_next_message_by_a_vip_rule(
    api: tuple[FastAPI, httpx.AsyncClient],
    routing_engine: RoutingEngine,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
) -> None:
    _, client = api
    vip = await seed.add_queue(sessions, "vip")
    policy = await client.put(
        "/v1/routing-policy",
        headers=bearer(team.admin_key),
        json={
            "default_queue": "default",
            "rules": [{"name": "vip", "customer_attributes": {"tier": "vip"}, "queue": "vip"}],
        },
    )
    assert policy.status_code == 200, policy.text
    await routing_engine.process([factories.sms("first", sender="+14155550111")])
    customer = await customer_of(sessions, "phone", "+14155550111")
    [conversation] = await _conversations(sessions)
    supervisor = bearer(team.supervisor_key)
    async with sessions() as session:
        assert (await session.get_one(Conversation, conversation)).queue_id != vip

    patched = await client.patch(
        f"/v1/customers/{customer}", headers=supervisor, json={"tier": "vip", "language": "de"}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["attributes"] == {"tier": "vip", "language": "de"}
    resolved = await client.post(
        f"/v1/conversations/{conversation}/resolve", headers=supervisor, json={"reason": "done"}
    )
    assert resolved.status_code == 200, resolved.text

    await routing_engine.process([factories.sms("again", sender="+14155550111")])
    async with sessions() as session:
        again = await session.get_one(Conversation, conversation)
    queued = (await conversation_events(sessions, conversation, "queued"))[-1]
    assert again.queue_id == vip
    assert queued is not None
    assert queued.queue_id == vip


async def test_bad_attributes_are_a_422_naming_them_and_change_nothing(
    api: tuple[FastAPI, httpx.AsyncClient],
    routing_engine: RoutingEngine,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
) -> None:
    _, client = api
    await routing_engine.process([factories.email(sender="zed@example.com")])
    customer = await customer_of(sessions, "email", "zed@example.com")
    supervisor = bearer(team.supervisor_key)
    ok = await client.patch(
        f"/v1/customers/{customer}", headers=supervisor, json={"attributes": {"plan": "gold"}}
    )
    assert ok.status_code == 200, ok.text
    bad: list[tuple[dict[str, Any], str]] = [
        ({"attributes": {"nested": {"a": 1}}}, "nested"),
        ({"attributes": {"list": [1, 2]}}, "list"),
        ({"attributes": {"long": "x" * 501}}, "long"),
        ({"attributes": {"tier": "vip"}}, "tier"),
        ({"attributes": {"bad key!": 1}}, "bad key!"),
        ({"attributes": {f"k{n}": n for n in range(51)}}, "attributes"),
        ({"language": "not a language"}, "language"),
        ({"tier": ""}, "tier"),
        ({"display_name": "x" * 201}, "display_name"),
        ({"colour": "red"}, "colour"),
    ]
    for document, named in bad:
        response = await client.patch(
            f"/v1/customers/{customer}", headers=supervisor, json=document
        )
        body = refusal(response, 422, "invalid-request")
        assert named in response.text, (document, body)
    broken = await client.patch(
        f"/v1/customers/{customer}",
        headers={**supervisor, "Content-Type": "application/json"},
        content=b"{not json",
    )
    refusal(broken, 422, "invalid-request")
    async with sessions() as session:
        stored = await session.get_one(Customer, customer)
    assert stored.attributes == {"plan": "gold"}
    assert stored.display_name == "Ada"


async def test_merge_moves_everything_and_undo_gives_each_back_exactly(
    api: tuple[FastAPI, httpx.AsyncClient],
    routing_engine: RoutingEngine,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
) -> None:
    _, client = api
    await routing_engine.process([factories.sms("by sms", sender="+14155550122")])
    await routing_engine.process([factories.email("by mail", sender="zoe@example.com")])
    keeper = await customer_of(sessions, "phone", "+14155550122")
    absorbed = await customer_of(sessions, "email", "zoe@example.com")
    before = await _conversations(sessions)
    supervisor = bearer(team.supervisor_key)
    await client.patch(f"/v1/customers/{keeper}", headers=supervisor, json={"crm_id": "C-9"})
    await client.patch(
        f"/v1/customers/{absorbed}",
        headers=supervisor,
        json={"crm_id": "C-1", "language": "de", "attributes": {"vip_since": 2019}},
    )

    merged = await client.post(
        f"/v1/customers/{keeper}/merge",
        headers=supervisor,
        json={"from": str(absorbed), "reason": "same person, confirmed by order 4521"},
    )
    assert merged.status_code == 201, merged.text
    record = merged.json()
    assert record["from_attributes"] == {"crm_id": "C-1", "language": "de", "vip_since": 2019}
    assert record["attributes_copied"] == {"language": "de", "vip_since": 2019}
    assert record["reason"] == "same person, confirmed by order 4521"
    assert record["actor"].startswith("supervisor:")
    assert set((await _conversations(sessions)).values()) == {keeper}
    assert record["conversations"] == [
        str(cid) for cid, customer in before.items() if customer == absorbed
    ]
    whole = (await client.get(f"/v1/customers/{keeper}", headers=supervisor)).json()
    assert whole["attributes"] == {"crm_id": "C-9", "language": "de", "vip_since": 2019}
    assert whole["display_name"] == "Ada"  # the email's name: the SMS customer had none
    assert len(whole["identities"]) == 2
    gone = (await client.get(f"/v1/customers/{absorbed}", headers=supervisor)).json()
    assert gone["merged_into"] == str(keeper)
    assert gone["identities"] == []
    # Once merged, it is not absorbed or merged again, nor changed.
    again = await client.post(
        f"/v1/customers/{keeper}/merge",
        headers=supervisor,
        json={"from": str(absorbed), "reason": "twice"},
    )
    refusal(again, 409, "conflict")

    undone = await client.post(
        f"/v1/customers/merges/{record['id']}/undo",
        headers=supervisor,
        json={"reason": "two people after all"},
    )
    assert undone.status_code == 200, undone.text
    assert undone.json()["undo_reason"] == "two people after all"
    assert await _conversations(sessions) == before
    assert await customer_of(sessions, "email", "zoe@example.com") == absorbed
    keeper_now = (await client.get(f"/v1/customers/{keeper}", headers=supervisor)).json()
    absorbed_now = (await client.get(f"/v1/customers/{absorbed}", headers=supervisor)).json()
    assert keeper_now["attributes"] == {"crm_id": "C-9"}
    assert keeper_now["display_name"] is None
    assert absorbed_now["merged_into"] is None
    assert absorbed_now["attributes"] == {"crm_id": "C-1", "language": "de", "vip_since": 2019}
    assert [item["kind"] for item in absorbed_now["history"]][:2] == ["unmerged", "merged_into"]
    [moved] = [cid for cid, customer in before.items() if customer == absorbed]
    kinds = [event.kind for event in await conversation_events(sessions, moved)]
    async with sessions() as session:
        stored = await session.get_one(CustomerMerge, uuid.UUID(record["id"]))
    assert kinds[-2:] == ["customer_merged", "customer_unmerged"]
    assert stored.undone_by is not None
    twice = await client.post(
        f"/v1/customers/merges/{record['id']}/undo", headers=supervisor, json={"reason": "x"}
    )
    refusal(twice, 409, "conflict")


async def test_agents_act_only_on_customers_whose_conversations_they_can_read(
    api: tuple[FastAPI, httpx.AsyncClient],
    routing_engine: RoutingEngine,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
) -> None:
    _, client = api
    await routing_engine.process([factories.sms("mine", sender="+14155550133")])  # offered to Ada
    mine = await customer_of(sessions, "phone", "+14155550133")
    await routing_engine.process([factories.email("also", sender="ida@example.com")])
    await routing_engine.process(
        [factories.email("more", sender="ida2@example.com", subject="Other")]
    )
    other = await customer_of(sessions, "email", "ida@example.com")
    ada, bob = bearer(team.ada_key), bearer(team.bob_key)

    assert (await client.get(f"/v1/customers/{mine}", headers=ada)).status_code == 200
    for call in (
        client.get(f"/v1/customers/{mine}", headers=bob),
        client.get("/v1/customers", params={"identity": "phone:+14155550133"}, headers=bob),
        client.patch(f"/v1/customers/{mine}", headers=bob, json={"tier": "vip"}),
        client.post(
            f"/v1/customers/{mine}/identities",
            headers=bob,
            json={"kind": "email", "value": "x@example.com", "reason": "r"},
        ),
        client.post(
            f"/v1/customers/{mine}/merge", headers=bob, json={"from": str(other), "reason": "r"}
        ),
    ):
        refusal(await call, 404, "not-found")
    async with sessions() as session:
        stored = await session.get_one(Customer, mine)
    assert stored.attributes == {}

    # Ada's own customer, and one whose only conversation she cannot read: no merge.
    hidden = await customer_of(sessions, "email", "ida2@example.com")
    [hidden_conversation] = [
        c for c, owner in (await _conversations(sessions)).items() if owner == hidden
    ]
    billing = await seed.add_queue(sessions, "billing")  # nobody serves it
    moved = await client.post(
        f"/v1/conversations/{hidden_conversation}/assign",
        headers=bearer(team.supervisor_key),
        json={"queue_id": str(billing)},
    )
    assert moved.status_code == 200, moved.text
    refusal(await client.get(f"/v1/customers/{hidden}", headers=ada), 404, "not-found")
    refused = await client.post(
        f"/v1/customers/{mine}/merge", headers=ada, json={"from": str(hidden), "reason": "r"}
    )
    refusal(refused, 404, "not-found")
    assert set((await _conversations(sessions)).values()) >= {mine, hidden}
    # Her own two customers she may merge.
    allowed = await client.post(
        f"/v1/customers/{mine}/merge", headers=ada, json={"from": str(other), "reason": "same"}
    )
    assert allowed.status_code == 201, allowed.text


async def test_lookup_and_linking_answers(
    api: tuple[FastAPI, httpx.AsyncClient],
    routing_engine: RoutingEngine,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
) -> None:
    _, client = api
    await routing_engine.process([factories.sms(sender="+14155550144")])
    await routing_engine.process([factories.email(sender="kim@example.com")])
    customer = await customer_of(sessions, "phone", "+14155550144")
    other = await customer_of(sessions, "email", "kim@example.com")
    supervisor = bearer(team.supervisor_key)

    found = await client.get(
        "/v1/customers", params={"identity": "email:KIM@example.com"}, headers=supervisor
    )
    assert found.json()["id"] == str(other)
    for identity in ("nonsense", "fax:+14155550144", "phone:4155550144", "email:no-at-sign"):
        response = await client.get(
            "/v1/customers", params={"identity": identity}, headers=supervisor
        )
        assert "identity" in refusal(response, 422, "invalid-payload")["detail"]
    unknown = await client.get(
        "/v1/customers", params={"identity": "email:nobody@example.com"}, headers=supervisor
    )
    refusal(unknown, 404, "not-found")

    # A second identity of the other customer: linking its email now needs a merge.
    linked = await client.post(
        f"/v1/customers/{other}/identities",
        headers=supervisor,
        json={"kind": "whatsapp", "value": "+14155550145", "reason": "her WhatsApp"},
    )
    assert linked.status_code == 201, linked.text
    conflict = await client.post(
        f"/v1/customers/{customer}/identities",
        headers=supervisor,
        json={"kind": "email", "value": "kim@example.com", "reason": "guess"},
    )
    assert str(other) in refusal(conflict, 409, "conflict")["detail"]
    # A number must be E.164; linking what is already linked changes nothing.
    unreadable = await client.post(
        f"/v1/customers/{customer}/identities",
        headers=supervisor,
        json={"kind": "phone", "value": "0415 555 0144", "reason": "r"},
    )
    refusal(unreadable, 422, "invalid-payload")
    same = await client.post(
        f"/v1/customers/{customer}/identities",
        headers=supervisor,
        json={"kind": "phone", "value": "+14155550144", "reason": "r"},
    )
    assert same.status_code == 201
    assert [i["value"] for i in same.json()["identities"]] == ["+14155550144"]
    # The WhatsApp number now belongs to the other customer: an SMS from it joins them.
    await routing_engine.process([factories.sms(sender="+14155550145")])
    async with sessions() as session:
        merged_count = await session.scalar(select(CustomerMerge.id))
    assert merged_count is None
    assert await customer_of(sessions, "phone", "+14155550145") != customer
