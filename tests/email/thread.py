"""Both sides of an email thread: the customer's mail in through a webhook, Ada's reply out."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.inbound.envelope import Event, InboundMessage
from router.models import Message
from router.routing.engine import RoutingEngine
from tests.adapters.conftest import Inbound
from tests.console.conftest import Team, bearer
from tests.console.mail_servers import MailServers, SentMail
from tests.console.replies import settled
from tests.email.customer import CustomerMail

Post = Callable[[httpx.AsyncClient, CustomerMail], Awaitable[httpx.Response]]


class Thread:
    """Drives both sides: the customer's mail in through a webhook, Ada's reply out."""

    def __init__(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        engine: RoutingEngine,
        inbound: Inbound,
        sessions: async_sessionmaker[AsyncSession],
        servers: MailServers,
        team: Team,
    ) -> None:
        self.app, self.client, self.engine = app, client, engine
        self.inbound, self.sessions, self.servers, self.team = inbound, sessions, servers, team
        self.seen: set[str] = set()

    async def routed(self, count: int) -> list[Event]:
        """The next `count` events the webhooks published, once the engine applied them."""
        events = await self.inbound.events(len(self.seen) + count)
        fresh = [event for event in events if event.event_id not in self.seen]
        assert len(fresh) == count, fresh
        self.seen.update(event.event_id for event in fresh)
        await self.engine.process(fresh)
        return fresh

    async def customer_writes(self, post: Post, mail: CustomerMail) -> InboundMessage:
        response = await post(self.client, mail)
        assert response.status_code == 200, response.text
        [event] = await self.routed(1)
        assert isinstance(event, InboundMessage)
        return event

    async def ada_takes_it(self) -> str:
        [item] = (
            await self.client.get("/v1/conversations", headers=bearer(self.team.ada_key))
        ).json()["items"]
        if item["offer_state"] == "offered":
            answer = await self.client.post(
                f"/v1/conversations/{item['id']}/accept", headers=bearer(self.team.ada_key)
            )
            assert answer.status_code == 200, answer.text
        return str(item["id"])

    async def ada_replies(self, text: str) -> tuple[SentMail, Message]:
        cid = await self.ada_takes_it()
        before = len(self.servers.sent)
        response = await self.client.post(
            f"/v1/conversations/{cid}/replies",
            headers=bearer(self.team.ada_key),
            json={"text": text},
        )
        assert response.status_code == 202, response.text
        stored = await settled(self.app, self.sessions, response.json()["id"])
        assert stored.delivery_status == "sent", stored.delivery_error
        sent = self.servers.wait_for(before + 1)[before]
        return sent, stored
