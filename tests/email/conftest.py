"""Email both ways: the real webhooks, app and engine, with local mail providers to send to."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from adapters.kafka.topics import ensure_topics
from router.settings import Settings
from tests.adapters.conftest import SECRETS, Inbound
from tests.adapters.email_requests import SENDGRID_EVENTS_PUBLIC_KEY
from tests.console.conftest import team  # noqa: F401  (the agents and their keys)
from tests.console.mail_servers import (
    MAILGUN_KEY,
    SENDGRID_KEY,
    SMTP_PASSWORD,
    SMTP_USER,
    MailServers,
    MailServersRunning,
)
from tests.support import app_client

POSTMARK_EVENTS_TOKEN = "postmark-events-token"


@pytest.fixture(scope="session")
def mail_servers_running() -> Iterator[MailServers]:
    servers = MailServersRunning()
    state = servers.start()
    yield state
    servers.stop()


@pytest.fixture
def mail_servers(mail_servers_running: MailServers) -> MailServers:
    mail_servers_running.reset()
    return mail_servers_running


def mail_settings(settings: Settings, servers: MailServers, **changes: object) -> Settings:
    """Every webhook secret, and SendGrid, Mailgun and SMTP (not Postmark) to send with."""
    return settings.model_copy(
        update={
            **{name: SecretStr(value) for name, value in SECRETS.items()},
            "public_base_url": "https://router.example.test",
            "outbound_sendgrid_base_url": servers.base_url,
            "outbound_sendgrid_api_key": SecretStr(SENDGRID_KEY),
            "outbound_mailgun_base_url": servers.base_url,
            "outbound_mailgun_api_key": SecretStr(MAILGUN_KEY),
            "outbound_email_base_url": servers.base_url,
            "outbound_email_token": None,
            "outbound_smtp_host": "127.0.0.1",
            "outbound_smtp_port": servers.smtp_port,
            "outbound_smtp_security": "none",
            "outbound_smtp_username": SMTP_USER,
            "outbound_smtp_password": SecretStr(SMTP_PASSWORD),
            "outbound_retry_base_seconds": 0.05,
            "postmark_events_token": SecretStr(POSTMARK_EVENTS_TOKEN),
            "sendgrid_events_public_key": SENDGRID_EVENTS_PUBLIC_KEY,
            **changes,
        }
    )


@pytest.fixture
def email_settings(settings: Settings, mail_servers: MailServers) -> Settings:
    return mail_settings(settings, mail_servers)


@pytest.fixture
async def email_api(email_settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    await ensure_topics(email_settings)
    async with app_client(email_settings) as running:
        yield running


@pytest.fixture
def inbound(email_settings: Settings) -> Inbound:
    return Inbound(email_settings)
