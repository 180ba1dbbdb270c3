"""A support desk under test: customers write, agents act, on a clock the test moves.

Everything goes through the real services (the routing engine, the console and conversation
services, the sweeps) on the real database; only the clock is the test's.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.outbound.directory import ProviderDirectory
from router.auth.roles import Role
from router.auth.service import KeyCredential, Principal
from router.channels import Presence
from router.console import service as console
from router.console.schemas import ReplyRequest, TransferRequest
from router.conversations import service as conversations
from router.db import in_transaction
from router.feedback import settings_store
from router.feedback.policy import SurveyKind, SurveySettings
from router.models import Conversation, ConversationMetrics, Message
from router.routing.engine import RoutingEngine
from router.routing.offers import drain_waiting
from router.service_levels import versions
from router.service_levels.sweep import publish_due
from router.settings import Settings
from tests import factories


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def at(self, moment: datetime) -> datetime:
        assert moment >= self.now, "the desk's clock only moves forward"
        self.now = moment
        return moment

    def advance(self, seconds: float) -> datetime:
        return self.at(self.now + timedelta(seconds=seconds))


def desk_settings(database_url: str) -> Settings:
    """Settings with a Twilio sender configured (replies are stored, never sent here)."""
    return Settings(
        database_url=database_url,  # type: ignore[arg-type]
        kafka_bootstrap_servers="127.0.0.1:9",
        offer_timeout_seconds=600,
        outbound_twilio_base_url="http://127.0.0.1:9",
        outbound_twilio_account_sid="AC0000",
        twilio_auth_token=SecretStr("secret"),
    )


def _principal(role: Role, agent: uuid.UUID | None) -> Principal:
    return Principal(KeyCredential(uuid.uuid4(), "desk", "desk0000"), role, agent)


class Desk:
    """The actions of customers, agents and a supervisor, each at the clock's time."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], settings: Settings, clock: Clock
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.clock = clock
        self.engine = RoutingEngine(sessions, settings, clock=clock)
        self.senders = ProviderDirectory(settings)

    async def close(self) -> None:
        await self.senders.close()

    async def writes(self, sender: str, text: str = "hello") -> uuid.UUID:
        """The customer `sender` sends an SMS now; the conversation it lands in."""
        message = factories.sms(text, sender=sender).model_copy(
            update={"received_at": self.clock.now}
        )
        await self.engine.process([message])
        return await self.conversation_of(sender)

    async def conversation_of(self, sender: str) -> uuid.UUID:
        async with self.sessions() as session:
            found = await session.scalar(
                select(Conversation.id)
                .join(ConversationMetrics, ConversationMetrics.conversation_id == Conversation.id)
                .where(
                    Conversation.id.in_(
                        select(Message.conversation_id).where(Message.sender == sender)
                    )
                )
                .order_by(Conversation.created_at.desc())
                .limit(1)
            )
        assert found is not None, sender
        return found

    async def owner(self, cid: uuid.UUID) -> tuple[uuid.UUID | None, str | None]:
        async with self.sessions() as session:
            conversation = await session.get(Conversation, cid)
        assert conversation is not None
        return conversation.agent_id, conversation.offer_state

    async def accepts(self, agent: uuid.UUID, cid: uuid.UUID) -> None:
        now = self.clock.now
        await in_transaction(
            self.sessions,
            lambda s: conversations.accept_offer(s, self.settings, cid, agent, now),
        )

    async def replies(self, agent: uuid.UUID, cid: uuid.UUID, text: str = "on it") -> None:
        now = self.clock.now
        await in_transaction(
            self.sessions,
            lambda s: console.add_reply(
                s,
                _principal(Role.AGENT, agent),
                cid,
                now,
                ReplyRequest(text=text),
                self.senders,
                settings=self.settings,
            ),
        )

    async def notes(self, agent: uuid.UUID, cid: uuid.UUID) -> None:
        now = self.clock.now
        await in_transaction(
            self.sessions,
            lambda s: console.add_note(s, _principal(Role.AGENT, agent), cid, now, "a note"),
        )

    async def transfers(self, agent: uuid.UUID, cid: uuid.UUID, to: uuid.UUID) -> None:
        now = self.clock.now
        await in_transaction(
            self.sessions,
            lambda s: console.transfer(
                s,
                self.settings,
                _principal(Role.AGENT, agent),
                cid,
                now,
                TransferRequest(agent_id=to),
            ),
        )

    async def resolves(self, agent: uuid.UUID | None, cid: uuid.UUID) -> None:
        """The owner resolves it, or (agent None) a supervisor closes it; the customer gets
        the survey the settings call for (none before any are saved)."""
        now = self.clock.now
        principal = _principal(Role.SUPERVISOR if agent is None else Role.AGENT, agent)
        await in_transaction(
            self.sessions,
            lambda s: console.resolve(
                s, self.settings, principal, cid, now, None, survey_senders=self.senders
            ),
        )

    async def goes(self, agent: uuid.UUID, presence: Presence) -> None:
        now = self.clock.now
        await in_transaction(
            self.sessions,
            lambda s: conversations.set_presence(
                s, self.settings, agent, presence, now, actor="desk"
            ),
        )

    async def sweeps(self) -> None:
        now = self.clock.now
        await in_transaction(self.sessions, lambda s: drain_waiting(s, self.settings, now))

    async def sla_policy(self, **policy: Any) -> None:
        """An admin publishes an SLA policy of one catch-all policy with these fields."""
        draft = versions.SlaPolicyDraft.model_validate({"policies": [{"name": "all", **policy}]})
        await in_transaction(self.sessions, lambda s: versions.publish(s, draft, "desk"))

    async def sweeps_slas(self) -> None:
        """The SLA sweep marks the clocks at risk or breached by now."""
        now = self.clock.now
        await in_transaction(self.sessions, lambda s: publish_due(s, self.settings, now))

    async def surveys(self, kind: SurveyKind) -> None:
        """An admin switches surveys of `kind` on, sent as soon as a conversation is resolved."""
        now = self.clock.now
        document = SurveySettings(enabled=True, kind=kind)
        await in_transaction(self.sessions, lambda s: settings_store.save(s, document, "desk", now))

    async def metrics(self, cid: uuid.UUID) -> ConversationMetrics:
        async with self.sessions() as session:
            found = await session.get(ConversationMetrics, cid)
        assert found is not None
        return found
