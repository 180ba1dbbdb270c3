"""Numbers in `/v1` bodies are JSON integers: `false` or `"3"` is refused, nothing changes."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.models import Agent, AgentCapacity, Queue
from tests.console.conftest import Team, bearer


@pytest.mark.parametrize("odd", [False, True, "3", 2.5])
async def test_a_capacity_that_is_not_an_integer_is_refused_and_changes_nothing(
    api: tuple[FastAPI, httpx.AsyncClient],
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    odd: object,
) -> None:
    _, client = api
    admin = bearer(team.admin_key)
    created = await client.post(
        "/v1/agents",
        headers=admin,
        json={"handle": "eve", "display_name": "Eve", "capacity": {"email": odd}},
    )
    changed = await client.patch(
        f"/v1/agents/{team.ada}", headers=admin, json={"capacity": {"sms": odd}}
    )
    queue = await client.post("/v1/queues", headers=admin, json={"name": "vip", "priority": odd})

    for answer, field in [
        (created, "body.capacity.email"),
        (changed, "body.capacity.sms"),
        (queue, "body.priority"),
    ]:
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert [error["field"] for error in answer.json()["errors"]] == [field]
    async with sessions() as session:
        assert await session.scalar(select(Agent.id).where(Agent.handle == "eve")) is None
        assert await session.scalar(select(Queue.id).where(Queue.name == "vip")) is None
        sms = await session.scalar(
            select(AgentCapacity.capacity).where(
                AgentCapacity.agent_id == team.ada, AgentCapacity.channel == "sms"
            )
        )
    assert sms == 2


async def test_an_integer_capacity_is_taken(
    api: tuple[FastAPI, httpx.AsyncClient], team: Team
) -> None:
    _, client = api
    created = await client.post(
        "/v1/agents",
        headers=bearer(team.admin_key),
        json={"handle": "eve", "display_name": "Eve", "capacity": {"email": 0, "sms": 3}},
    )
    assert created.status_code == 201, created.text
    load = {row["channel"]: row["capacity"] for row in created.json()["load"]}
    assert load == {"email": 0, "sms": 3}
