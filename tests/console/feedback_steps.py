"""Steps the feedback tests share: switching surveys on, a customer's SMS, resolving."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.models import Conversation, Feedback, FeedbackSurvey
from router.settings import Settings
from tests.adapters.channel_requests import twilio_signed
from tests.adapters.twilio_requests import sms_params
from tests.console import providers
from tests.console.conftest import Team, bearer
from tests.console.conftest import inline_settings as inline
from tests.console.providers import FakeProviders
from tests.console.replies import accept_offer

LINK_SECRET = "feedback-link-secret"


def inline_settings(console_settings: Settings) -> Settings:
    """The inline transport (a webhook is routed before it is answered), links signed."""
    return inline(
        console_settings, feedback_link_secret=SecretStr(LINK_SECRET), feedback_sweep_seconds=0.1
    )


async def survey_settings(
    client: httpx.AsyncClient, team: Team, document: dict[str, Any]
) -> dict[str, Any]:
    saved = await client.put("/v1/feedback/settings", headers=bearer(team.admin_key), json=document)
    assert saved.status_code == 200, saved.text
    body: dict[str, Any] = saved.json()
    return body


async def customer_sms(client: httpx.AsyncClient, text: str) -> None:
    """The customer's SMS, signed as Twilio signs it (with the account's token)."""
    params = sms_params(MessageSid=f"SM{uuid.uuid4().hex}", Body=text)
    body, headers = twilio_signed("/webhooks/twilio/sms", params, token=providers.TWILIO_TOKEN)
    answered = await client.post("/webhooks/twilio/sms", content=body, headers=headers)
    assert answered.status_code == 200, answered.text


async def accept_and_resolve(
    client: httpx.AsyncClient, team: Team, body: dict[str, Any] | None = None
) -> str:
    """Ada accepts her offer and resolves it; the conversation's id."""
    cid = await accept_offer(client, team.ada_key)
    resolved = await client.post(
        f"/v1/conversations/{cid}/resolve", headers=bearer(team.ada_key), json=body or {}
    )
    assert resolved.status_code == 200, resolved.text
    return cid


async def surveys_of(sessions: async_sessionmaker[AsyncSession], cid: str) -> list[FeedbackSurvey]:
    async with sessions() as session:
        found = await session.scalars(
            select(FeedbackSurvey)
            .where(FeedbackSurvey.conversation_id == uuid.UUID(cid))
            .order_by(FeedbackSurvey.resolution)
        )
        return list(found.all())


async def feedback_of(sessions: async_sessionmaker[AsyncSession], cid: str) -> list[Feedback]:
    async with sessions() as session:
        found = await session.scalars(
            select(Feedback).where(Feedback.conversation_id == uuid.UUID(cid))
        )
        return list(found.all())


async def status_of(sessions: async_sessionmaker[AsyncSession], cid: str) -> str:
    async with sessions() as session:
        conversation = await session.get_one(Conversation, uuid.UUID(cid))
        return conversation.status


async def provider_requests(fake: FakeProviders, count: int, seconds: float = 10.0) -> list[Any]:
    """The provider's requests once `count` arrived (or the time is up), this loop running."""
    return await asyncio.to_thread(fake.wait_for, count, seconds)
