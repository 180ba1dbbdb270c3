"""The steps of a live call as Twilio takes them, and reads of what they changed."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.auth.roles import Role
from router.models import AgentCapacity, Conversation, ConversationEvent, Message
from tests.adapters.channel_requests import PUBLIC
from tests.adapters.conftest import SECRETS
from tests.adapters.twilio_requests import CUSTOMER, LINE, call_params, post_signed
from tests.adapters.twiml_checker import Verb, check_twiml
from tests.console.conftest import bearer, make_key

VOICE = "/webhooks/twilio/voice"
CALL_SID = "CA11111111111111111111111111111111"


async def admin_headers(sessions: async_sessionmaker[AsyncSession]) -> dict[str, str]:
    return bearer(await make_key(sessions, Role.ADMIN, name="root"))


async def agent(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    handle: str,
    queue: uuid.UUID,
    voice: dict[str, Any],
) -> uuid.UUID:
    created = await client.post(
        "/v1/agents",
        headers=admin,
        json={
            "handle": handle,
            "display_name": handle.title(),
            "capacity": {"voice": 1, "chat": 2},
            "queue_ids": [str(queue)],
            "voice": voice,
        },
    )
    assert created.status_code == 201, created.text
    agent = uuid.UUID(created.json()["id"])
    online = await client.put(
        f"/v1/agents/{agent}/presence", headers=admin, json={"presence": "online"}
    )
    assert online.status_code == 200, online.text
    return agent


def twiml_of(response: httpx.Response) -> list[Verb]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/xml")
    return check_twiml(response.content, PUBLIC)


def params(**extra: str) -> list[tuple[str, str]]:
    return call_params(**{"CallSid": CALL_SID, "CallStatus": "in-progress", **extra})


async def ring_or_voicemail(
    client: httpx.AsyncClient, url: str, *, token: str = SECRETS["twilio_auth_token"]
) -> tuple[str, list[Verb]]:
    """Follow the caller's holds until the wait answers with something else."""
    for _ in range(60):
        response = await post_signed(client, url, params(), token=token)
        verbs = twiml_of(response)
        if [verb.tag for verb in verbs] != ["Pause", "Redirect"]:
            return url, verbs
        url = verbs[1].text
        assert verbs[1].query("")["poll"].isdigit()
        await asyncio.sleep(0.2)  # the <Pause>, shortened
    raise AssertionError("the engine never decided")


async def call_comes_in(
    client: httpx.AsyncClient, *, token: str = SECRETS["twilio_auth_token"]
) -> str:
    """The first ring: the caller hears they are being connected; the wait URL."""
    ringing = params(CallStatus="ringing")
    verbs = twiml_of(await post_signed(client, VOICE, ringing, token=token))
    assert [verb.tag for verb in verbs] == ["Say", "Redirect"]
    assert "connect" in verbs[0].text
    wait = verbs[1].text
    assert wait.startswith(f"{PUBLIC}{VOICE}/wait?")
    assert verbs[1].query("") == {"From": CUSTOMER, "To": LINE, "poll": "0"}
    return wait


def dialled(verbs: list[Verb]) -> tuple[Verb, Verb]:
    assert [verb.tag for verb in verbs] == ["Dial"]
    [dial] = verbs
    [noun] = dial.children
    assert noun.attributes["statusCallbackEvent"] == "answered"
    return dial, noun


async def call_conversation(sessions: async_sessionmaker[AsyncSession]) -> Conversation:
    async with sessions() as session:
        found = await session.scalar(
            select(Conversation)
            .join(Message, Message.conversation_id == Conversation.id)
            .where(Message.provider_message_id == CALL_SID)
        )
    assert found is not None
    return found


async def events_of(sessions: async_sessionmaker[AsyncSession], cid: uuid.UUID) -> list[Any]:
    async with sessions() as session:
        rows = await session.scalars(
            select(ConversationEvent)
            .where(ConversationEvent.conversation_id == cid)
            .order_by(ConversationEvent.id)
        )
        return list(rows.all())


async def voice_active(sessions: async_sessionmaker[AsyncSession]) -> dict[uuid.UUID, int]:
    async with sessions() as session:
        rows = await session.execute(
            select(AgentCapacity.agent_id, AgentCapacity.active).where(
                AgentCapacity.channel == "voice"
            )
        )
        return {agent: active for agent, active in rows.all()}


async def until(predicate: Any, what: str) -> None:
    for _ in range(100):
        if await predicate():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


async def call_message(sessions: async_sessionmaker[AsyncSession]) -> Message:
    async with sessions() as session:
        found = await session.scalar(select(Message).where(Message.provider_message_id == CALL_SID))
    assert found is not None
    return found
