"""Fixtures for the console API: the real app, keys for each role, fake provider APIs."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.auth.roles import Role
from router.auth.service import issue_key
from router.db import transaction
from router.routing.engine import RoutingEngine
from router.settings import Settings
from tests import seed
from tests.console import providers
from tests.console.providers import FakeProviders, ProviderServer
from tests.support import app_client

if TYPE_CHECKING:
    from tests.console.receipts import Receipts


@pytest.fixture(scope="session")
def provider_server() -> Iterator[FakeProviders]:
    server = ProviderServer()
    state = server.start()
    yield state
    server.stop()


@pytest.fixture
def fake_providers(provider_server: FakeProviders) -> FakeProviders:
    provider_server.reset()
    return provider_server


@pytest.fixture
def console_settings(settings: Settings, fake_providers: FakeProviders) -> Settings:
    """Kafka settings with every outbound provider pointed at the local fake."""
    return settings.model_copy(
        update={
            "outbound_email_base_url": fake_providers.base_url,
            "outbound_email_token": SecretStr(providers.POSTMARK_TOKEN),
            "outbound_meta_base_url": fake_providers.base_url,
            "outbound_whatsapp_token": SecretStr(providers.WHATSAPP_TOKEN),
            "outbound_meta_page_token": SecretStr(providers.PAGE_TOKEN),
            "outbound_twilio_base_url": fake_providers.base_url,
            "outbound_twilio_account_sid": providers.TWILIO_SID,
            "twilio_auth_token": SecretStr(providers.TWILIO_TOKEN),
            "webchat_secret": SecretStr(providers.WEBCHAT_SECRET),
            "outbound_retry_base_seconds": 0.05,
        }
    )


@pytest.fixture
def routing_engine(
    sessions: async_sessionmaker[AsyncSession], console_settings: Settings
) -> RoutingEngine:
    """The routing engine on the console's settings: messages routed as the consumer routes them."""
    return RoutingEngine(sessions, console_settings)


def inline_settings(console_settings: Settings, *secrets: str, **changes: object) -> Settings:
    """The console's settings on the inline transport (a webhook is routed and committed
    before it is answered), taking the named providers' webhook secrets and signatures made
    for the public URL."""
    from tests.adapters.channel_requests import PUBLIC
    from tests.adapters.conftest import SECRETS

    return console_settings.model_copy(
        update={
            **{name: SecretStr(SECRETS[name]) for name in secrets},
            "kafka_bootstrap_servers": None,
            "public_base_url": PUBLIC,
            **changes,
        }
    )


async def make_key(
    sessions: async_sessionmaker[AsyncSession],
    role: Role,
    *,
    agent: str | None = None,
    name: str = "test",
) -> str:
    async with transaction(sessions) as session:
        issued = await issue_key(session, role=role, name=name, actor="test", agent_handle=agent)
    return issued.token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Team:
    """Two agents on the default queue and one key per role."""

    default_queue: uuid.UUID
    ada: uuid.UUID
    bob: uuid.UUID
    ada_key: str
    bob_key: str
    supervisor_key: str
    admin_key: str


@pytest.fixture
async def team(sessions: async_sessionmaker[AsyncSession]) -> Team:
    default = await seed.queue_id(sessions, "default")
    ada = await seed.add_agent(
        sessions,
        "ada",
        capacity={"email": 2, "sms": 2, "whatsapp": 2, "messenger": 2, "instagram": 2, "chat": 2},
        queues=[default],
    )
    bob = await seed.add_agent(
        sessions, "bob", capacity={"email": 2, "sms": 2}, queues=[default], presence="offline"
    )
    return Team(
        default_queue=default,
        ada=ada,
        bob=bob,
        ada_key=await make_key(sessions, Role.AGENT, agent="ada"),
        bob_key=await make_key(sessions, Role.AGENT, agent="bob"),
        supervisor_key=await make_key(sessions, Role.SUPERVISOR, name="sue"),
        admin_key=await make_key(sessions, Role.ADMIN, name="root"),
    )


@pytest.fixture
async def api(console_settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    async with app_client(console_settings) as running:
        yield running


@pytest.fixture
def client(api: tuple[FastAPI, httpx.AsyncClient]) -> httpx.AsyncClient:
    """The console API's client, for tests that never look at the app itself."""
    return api[1]


@pytest.fixture
def signed_settings(console_settings: Settings) -> Settings:
    """The console's settings plus the webhook secrets providers sign their status news with."""
    from tests.adapters.channel_requests import PUBLIC
    from tests.adapters.conftest import SECRETS

    return console_settings.model_copy(
        update={
            "meta_app_secret": SecretStr(SECRETS["meta_app_secret"]),
            "meta_verify_token": SecretStr(SECRETS["meta_verify_token"]),
            "public_base_url": PUBLIC,
        }
    )


@pytest.fixture
async def signed_api(signed_settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The app taking both the console API and the providers' signed status webhooks."""
    from adapters.kafka.topics import ensure_topics

    await ensure_topics(signed_settings)
    async with app_client(signed_settings) as running:
        yield running


@pytest.fixture
def receipts(
    signed_api: tuple[FastAPI, httpx.AsyncClient],
    signed_settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
) -> Receipts:
    """Signed status webhooks posted to `signed_api` and routed as the consumer routes them."""
    from tests.console.receipts import Receipts

    return Receipts(signed_api[1], signed_settings, RoutingEngine(sessions, signed_settings))
