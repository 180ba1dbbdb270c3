"""Service levels under test: publish a policy, act as an agent at a chosen time, read clocks."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from pydantic import SecretStr
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.outbound.directory import ProviderDirectory
from router.auth.roles import Role
from router.auth.service import KeyCredential, Principal
from router.console import service as console
from router.console.schemas import ReplyRequest, TransferRequest
from router.db import in_transaction
from router.models import ConversationSla, Customer
from router.service_levels import versions
from router.service_levels.sweep import publish_due
from router.settings import Settings


def sla_settings(database_url: str, **values: Any) -> Settings:
    """Settings whose changes fill the outbox, with an SMS sender configured (nothing here
    sends: replies stay queued, as no outbound worker runs)."""
    return Settings(
        database_url=database_url,
        kafka_bootstrap_servers="127.0.0.1:9",
        outbound_twilio_base_url="http://127.0.0.1:9",
        outbound_twilio_account_sid="AC0123456789abcdef0123456789abcdef",
        twilio_auth_token=SecretStr("token"),
        **values,
    )


async def publish(sessions: async_sessionmaker[AsyncSession], *policies: dict[str, Any]) -> int:
    draft = versions.SlaPolicyDraft.model_validate({"policies": list(policies)})
    published = await in_transaction(sessions, lambda s: versions.publish(s, draft, "test"))
    return published.version


def agent(agent_id: uuid.UUID | None, role: Role = Role.AGENT) -> Principal:
    return Principal(
        credential=KeyCredential(key_id=uuid.uuid4(), name="test", prefix="rk_test"),
        role=role,
        agent_id=agent_id,
    )


@asynccontextmanager
async def senders(settings: Settings) -> AsyncIterator[ProviderDirectory]:
    directory = ProviderDirectory(settings)
    try:
        yield directory
    finally:
        await directory.close()


async def reply(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    who: Principal,
    cid: uuid.UUID,
    now: datetime,
) -> None:
    async with senders(settings) as directory:
        await in_transaction(
            sessions,
            lambda s: console.add_reply(
                s, who, cid, now, ReplyRequest(text="On its way"), directory, settings=settings
            ),
        )


async def note(
    sessions: async_sessionmaker[AsyncSession], who: Principal, cid: uuid.UUID, now: datetime
) -> None:
    await in_transaction(sessions, lambda s: console.add_note(s, who, cid, now, "call back"))


async def resolve(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    who: Principal,
    cid: uuid.UUID,
    now: datetime,
) -> None:
    await in_transaction(sessions, lambda s: console.resolve(s, settings, who, cid, now, None))


async def transfer(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    who: Principal,
    cid: uuid.UUID,
    queue: uuid.UUID,
    now: datetime,
) -> None:
    request = TransferRequest(queue_id=queue)
    await in_transaction(sessions, lambda s: console.transfer(s, settings, who, cid, now, request))


async def sweep_slas(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, now: datetime
) -> int:
    return await in_transaction(sessions, lambda s: publish_due(s, settings, now))


async def clocks(
    sessions: async_sessionmaker[AsyncSession], cid: uuid.UUID
) -> dict[str, ConversationSla]:
    async with sessions() as session:
        rows = await session.scalars(
            select(ConversationSla).where(ConversationSla.conversation_id == cid)
        )
        return {row.target: row for row in rows.all()}


async def set_tier(
    sessions: async_sessionmaker[AsyncSession], tier: str, customer: uuid.UUID | None = None
) -> None:
    """Give the customer (every customer when None) a tier."""
    change = update(Customer).values(attributes={"tier": tier})
    if customer is not None:
        change = change.where(Customer.id == customer)
    async with sessions() as session, session.begin():
        await session.execute(change)
