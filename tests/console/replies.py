"""An agent's reply from the customer's first message to the provider's answer."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.console.runtime import ConsoleRuntime
from router.inbound.envelope import InboundMessage
from router.models import Message
from router.routing.engine import RoutingEngine
from tests.console.conftest import Team, bearer


async def accept_offer(client: httpx.AsyncClient, key: str) -> str:
    """The agent holding `key` accepts the one conversation offered to them; its id."""
    [item] = (await client.get("/v1/conversations", headers=bearer(key))).json()["items"]
    response = await client.post(f"/v1/conversations/{item['id']}/accept", headers=bearer(key))
    assert response.status_code == 200, response.text
    return str(item["id"])


async def accepted(
    client: httpx.AsyncClient, engine: RoutingEngine, key: str, message: InboundMessage
) -> str:
    """Route `message` to the agent holding `key`, who accepts it; the conversation's id."""
    await engine.process([message])
    return await accept_offer(client, key)


async def accepted_reply(
    client: httpx.AsyncClient,
    engine: RoutingEngine,
    team: Team,
    message: InboundMessage,
    text: str,
) -> str:
    """Route `message` to Ada, who accepts it and replies `text`; the reply's message id."""
    cid = await accepted(client, engine, team.ada_key, message)
    response = await client.post(
        f"/v1/conversations/{cid}/replies", headers=bearer(team.ada_key), json={"text": text}
    )
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


async def settled(app: FastAPI, sessions: async_sessionmaker[AsyncSession], mid: str) -> Message:
    """The reply's stored message once the outbound sender has nothing left to do."""
    runtime: ConsoleRuntime = app.state.console
    await asyncio.wait_for(runtime.outbound.idle(), 30)
    async with sessions() as session:
        message = await session.scalar(select(Message).where(Message.id == uuid.UUID(mid)))
    assert message is not None
    return message


async def uploaded(
    client: httpx.AsyncClient, key: str, cid: str, name: str, kind: str, content: bytes
) -> str:
    """Upload a file to the conversation as the agent holding `key`; the upload's id."""
    response = await client.post(
        f"/v1/conversations/{cid}/attachments",
        headers=bearer(key),
        files={"file": (name, content, kind)},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])
