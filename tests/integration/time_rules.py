"""Queues' time rules under test: a clock to move, the rules to set, one sweep to run."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.channels import Presence
from router.conversations import service
from router.db import in_transaction
from router.models import Conversation, OutboxEvent, Queue
from router.routing.offers import drain_waiting
from router.routing.overdue import move_overdue
from router.settings import Settings


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


def kafka_settings(database_url: str) -> Settings:
    """Settings whose changes also fill the outbox (nothing here talks to the broker)."""
    return Settings(
        database_url=database_url,
        kafka_bootstrap_servers="127.0.0.1:9",
        offer_timeout_seconds=30,
        offer_exclusion_seconds=120,
    )


async def set_rules(
    sessions: async_sessionmaker[AsyncSession], queue: uuid.UUID, **rules: Any
) -> None:
    async with sessions() as session, session.begin():
        await session.execute(update(Queue).where(Queue.id == queue).values(**rules))


async def sweep(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, now: datetime
) -> int:
    """The time rules, then the drain, as one round of the sweep runs them."""
    moved = await in_transaction(sessions, lambda s: move_overdue(s, settings, now))
    await in_transaction(sessions, lambda s: drain_waiting(s, settings, now))
    return moved


async def only(sessions: async_sessionmaker[AsyncSession]) -> Conversation:
    async with sessions() as session:
        [conversation] = (await session.scalars(select(Conversation))).all()
    return conversation


async def accept(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, agent: uuid.UUID, now: datetime
) -> Conversation:
    conversation = await only(sessions)
    return await in_transaction(
        sessions, lambda s: service.accept_offer(s, settings, conversation.id, agent, now)
    )


async def go(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    agent: uuid.UUID,
    presence: Presence,
    now: datetime,
) -> None:
    await in_transaction(
        sessions,
        lambda s: service.set_presence(s, settings, agent, presence, now, actor="system"),
    )


async def outbox_types(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
    """The CloudEvents types waiting in the outbox, oldest first."""
    async with sessions() as session:
        values = await session.scalars(select(OutboxEvent.value).order_by(OutboxEvent.id))
        return [orjson.loads(value)["type"] for value in values.all()]
