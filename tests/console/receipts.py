"""Status webhooks signed as each provider signs them, routed as the consumer routes them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from router.routing.engine import RoutingEngine
from router.settings import Settings
from tests.adapters.conftest import Inbound
from tests.console.conftest import Team, bearer
from tests.console.replies import accept_offer


@dataclass
class Receipts:
    """Posts signed webhooks to the app, then applies what they published to the database."""

    client: httpx.AsyncClient
    settings: Settings
    engine: RoutingEngine
    applied: set[str] = field(default_factory=set)

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        """POST a signed webhook (expecting 2xx) and route the one event it published."""
        response = await self.client.post(path, content=body, headers=headers)
        assert response.status_code == 200, response.text
        events = await Inbound(self.settings).events(len(self.applied) + 1)
        fresh = [event for event in events if event.event_id not in self.applied]
        assert len(fresh) == 1, fresh
        await self.engine.process(fresh)
        self.applied.add(fresh[0].event_id)
        return response


async def reply_as_ada(client: httpx.AsyncClient, team: Team, text: str) -> tuple[str, str]:
    """Ada accepts the one conversation offered to her and replies; (conversation, reply) ids."""
    cid = await accept_offer(client, team.ada_key)
    response = await client.post(
        f"/v1/conversations/{cid}/replies", headers=bearer(team.ada_key), json={"text": text}
    )
    assert response.status_code == 202, response.text
    return cid, str(response.json()["id"])


async def detail(client: httpx.AsyncClient, team: Team, cid: str) -> dict[str, Any]:
    """The conversation as its owner's console shows it."""
    response = await client.get(f"/v1/conversations/{cid}", headers=bearer(team.ada_key))
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


async def reply_status(client: httpx.AsyncClient, team: Team, cid: str, mid: str) -> str | None:
    """The reply's delivery status in the conversation detail."""
    [reply] = [m for m in (await detail(client, team, cid))["messages"]["items"] if m["id"] == mid]
    status: str | None = reply["delivery_status"]
    return status


def new_id() -> str:
    return uuid.uuid4().hex
