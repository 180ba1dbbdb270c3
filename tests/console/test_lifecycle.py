"""A whole conversation through the console API, on real PostgreSQL and Kafka.

Customer writes -> offered to Ada -> she accepts -> her reply reaches the (fake) provider
exactly as the real API would get it -> resolved -> the customer writes again -> reopened
to Ada.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.routing.engine import RoutingEngine
from tests import factories
from tests.console import providers
from tests.console.conftest import Team, bearer
from tests.console.providers import FakeProviders


async def _only(client: httpx.AsyncClient, key: str) -> dict[str, Any]:
    listed = await client.get("/v1/conversations", headers=bearer(key))
    assert listed.status_code == 200, listed.text
    [item] = listed.json()["items"]
    return dict(item)


async def _delivered(client: httpx.AsyncClient, key: str, cid: str, mid: str) -> dict[str, Any]:
    for _ in range(200):
        detail = (await client.get(f"/v1/conversations/{cid}", headers=bearer(key))).json()
        [message] = [m for m in detail["messages"]["items"] if m["id"] == mid]
        if message["delivery_status"] != "queued":
            return dict(message)
        await asyncio.sleep(0.05)
    raise AssertionError("the reply stayed queued")


async def test_email_from_first_message_to_reopening_by_the_same_owner(
    api: tuple[FastAPI, httpx.AsyncClient],
    routing_engine: RoutingEngine,
    team: Team,
    fake_providers: FakeProviders,
) -> None:
    _, client = api
    first = factories.email("Where is my invoice?", thread="inv-1", subject="Invoice 4521")
    # As the email adapters store it: the Message-ID, and the thread it answers.
    first = first.model_copy(
        update={
            "metadata": {"message_id": "<q2@mail.example.com>"},
            "references": ("<q1@shop.example>",),
        }
    )
    await routing_engine.process([first])

    offered = await _only(client, team.ada_key)
    cid = offered["id"]
    assert offered["agent_id"] == str(team.ada)
    assert offered["offer_state"] == "offered"

    accepted = await client.post(f"/v1/conversations/{cid}/accept", headers=bearer(team.ada_key))
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["offer_state"] == "accepted"

    note = await client.post(
        f"/v1/conversations/{cid}/notes",
        headers=bearer(team.ada_key),
        json={"text": "VIP customer, check the billing system"},
    )
    assert note.status_code == 201, note.text
    assert note.json()["direction"] == "internal"

    reply = await client.post(
        f"/v1/conversations/{cid}/replies",
        headers=bearer(team.ada_key),
        json={"text": "Your invoice is attached to your account page."},
    )
    assert reply.status_code == 202, reply.text
    assert reply.json()["delivery_status"] == "queued"
    sent = await _delivered(client, team.ada_key, cid, reply.json()["id"])
    assert sent["delivery_status"] == "sent"

    [request] = fake_providers.requests
    assert request.path == "/email"
    assert request.headers["x-postmark-server-token"] == providers.POSTMARK_TOKEN
    assert request.headers["content-type"] == "application/json"
    assert request.headers["accept"] == "application/json"
    assert request.json() == {
        "From": "support@shop.example",
        "To": "ada@example.com",
        "Subject": "Re: Invoice 4521",
        "TextBody": "Your invoice is attached to your account page.",
        "Headers": [
            {"Name": "Message-ID", "Value": f"<{reply.json()['id']}@shop.example>"},
            {"Name": "In-Reply-To", "Value": "<q2@mail.example.com>"},
            {"Name": "References", "Value": "<q1@shop.example> <q2@mail.example.com>"},
        ],
        "MessageStream": "outbound",
    }

    resolved = await client.post(
        f"/v1/conversations/{cid}/resolve", headers=bearer(team.ada_key), json={"reason": "done"}
    )
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["status"] == "resolved"
    assert (await client.get("/v1/conversations", headers=bearer(team.ada_key))).json()[
        "items"
    ] == []

    await routing_engine.process([factories.email("One more question", thread="inv-1")])
    again = await _only(client, team.ada_key)
    assert again["id"] == cid
    assert again["status"] == "open"
    assert again["agent_id"] == str(team.ada)

    detail = (await client.get(f"/v1/conversations/{cid}", headers=bearer(team.ada_key))).json()
    kinds = [event["kind"] for event in detail["events"]["items"]]
    assert kinds[-4:] == ["resolved", "reopened", "queued", "offered"]
    assert [m["direction"] for m in detail["messages"]["items"]] == [
        "inbound",
        "internal",
        "outbound",
        "inbound",
    ]


async def test_an_agent_reopens_their_resolved_conversation_and_takes_it_back(
    api: tuple[FastAPI, httpx.AsyncClient],
    routing_engine: RoutingEngine,
    team: Team,
) -> None:
    _, client = api
    await routing_engine.process([factories.sms("hello")])
    cid = (await _only(client, team.ada_key))["id"]
    await client.post(f"/v1/conversations/{cid}/accept", headers=bearer(team.ada_key))
    await client.post(f"/v1/conversations/{cid}/resolve", headers=bearer(team.ada_key))

    resolved = await client.get(
        "/v1/conversations", params={"status": "resolved"}, headers=bearer(team.ada_key)
    )
    assert [item["id"] for item in resolved.json()["items"]] == [cid]

    reopened = await client.post(f"/v1/conversations/{cid}/reopen", headers=bearer(team.ada_key))
    assert reopened.status_code == 200, reopened.text
    body = reopened.json()
    assert (body["status"], body["agent_id"], body["offer_state"]) == (
        "open",
        str(team.ada),
        "accepted",
    )
    me = (await client.get("/v1/me", headers=bearer(team.ada_key))).json()
    assert {load["channel"]: load["active"] for load in me["load"]}["sms"] == 1
    again = await client.post(f"/v1/conversations/{cid}/reopen", headers=bearer(team.ada_key))
    assert again.status_code == 409


async def test_transfer_to_a_queue_keeps_the_original_waiting_time(
    api: tuple[FastAPI, httpx.AsyncClient],
    routing_engine: RoutingEngine,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
) -> None:
    from tests import seed

    _, client = api
    billing = await seed.add_queue(sessions, "billing")
    await routing_engine.process([factories.sms("invoice wrong")])
    offered = await _only(client, team.ada_key)
    cid = offered["id"]
    await client.post(f"/v1/conversations/{cid}/accept", headers=bearer(team.ada_key))

    moved = await client.post(
        f"/v1/conversations/{cid}/transfer",
        headers=bearer(team.ada_key),
        json={"queue_id": str(billing), "reason": "billing question"},
    )
    assert moved.status_code == 200, moved.text
    body = moved.json()
    assert body["queue_id"] == str(billing)
    assert body["agent_id"] is None
    assert body["waiting_since"] == offered["waiting_since"]
    # Ada no longer sees it, and her slot is free again.
    assert (await client.get("/v1/conversations", headers=bearer(team.ada_key))).json()[
        "items"
    ] == []
    me = (await client.get("/v1/me", headers=bearer(team.ada_key))).json()
    assert {load["channel"]: load["active"] for load in me["load"]}["sms"] == 0
    detail = await client.get(f"/v1/conversations/{cid}", headers=bearer(team.supervisor_key))
    transferred = detail.json()["events"]["items"][-1]
    assert transferred["kind"] == "transferred"
    assert transferred["details"]["from_agent"] == str(team.ada)
    assert uuid.UUID(transferred["details"]["to_queue"]) == billing


async def test_resolves_offer_the_waiting_conversations_before_they_are_answered(
    api: tuple[FastAPI, httpx.AsyncClient],
    routing_engine: RoutingEngine,
    team: Team,
) -> None:
    _, client = api
    # Ada has two email slots: two customers get her, three wait in the queue.
    await routing_engine.process(
        [factories.email(f"Question {n}", sender=f"customer{n}@example.com") for n in range(5)]
    )
    held = (await client.get("/v1/conversations", headers=bearer(team.ada_key))).json()["items"]
    assert len(held) == 2
    for item in held:
        accepted = await client.post(
            f"/v1/conversations/{item['id']}/accept", headers=bearer(team.ada_key)
        )
        assert accepted.status_code == 200, accepted.text

    # Both resolves at once: they share the drains after their commits, and each answer
    # comes only once a drain that began after its commit has offered what it freed.
    answers = await asyncio.gather(
        *(
            client.post(f"/v1/conversations/{item['id']}/resolve", headers=bearer(team.ada_key))
            for item in held
        )
    )
    assert [answer.status_code for answer in answers] == [200, 200]

    now_held = (await client.get("/v1/conversations", headers=bearer(team.ada_key))).json()
    offered = [item for item in now_held["items"] if item["offer_state"] == "offered"]
    assert len(offered) == 2
    assert {item["id"] for item in offered}.isdisjoint(item["id"] for item in held)
