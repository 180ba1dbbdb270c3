"""What the console API keeps per process: the change feed, the reply dispatcher, the
queue drains after actions, and the verifier of identity provider tokens."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg
from fastapi import Request
from sqlalchemy.engine import URL

from router.attachments.links import FileLinks
from router.attachments.outgoing import ReplyFiles
from router.auth.tokens import SigningKeys, TokenPolicy, TokenVerifier
from router.console.drains import QueueDrains
from router.console.feed import ChangeFeed
from router.console.limits import KeyRateLimit
from router.db import in_transaction
from router.inbound.envelope import utcnow
from router.outbound.dispatcher import OutboundDispatcher
from router.outbound.failures import configured_secrets
from router.outbound.ports import SenderDirectory
from router.routing.offers import drain_waiting
from router.state import RouterState

log = logging.getLogger(__name__)


@dataclass
class ConsoleRuntime:
    feed: ChangeFeed
    outbound: OutboundDispatcher
    senders: SenderDirectory
    polls: KeyRateLimit
    replies: KeyRateLimit
    drains: QueueDrains
    links: FileLinks
    # None while JWT login is off: bearer tokens are then API keys only.
    tokens: TokenVerifier | None = None


def listener_connect(url: URL) -> ChangeFeed:
    """A change feed listening on its own connection to the database at `url`."""
    plain = url.set(drivername="postgresql")
    query = dict(plain.query)
    # Unix-socket URLs (the embedded PostgreSQL) carry the socket folder as `?host=`.
    host = query.pop("host", None)
    dsn = plain.set(query={}).render_as_string(hide_password=False)
    kwargs: dict[str, str] = {"host": str(host)} if host else {}

    async def connect() -> asyncpg.Connection:
        return await asyncpg.connect(
            dsn, server_settings={"application_name": "router-feed"}, timeout=10, **kwargs
        )

    return ChangeFeed(connect)


@asynccontextmanager
async def running_console(
    state: RouterState, senders: SenderDirectory, signing_keys: SigningKeys | None = None
) -> AsyncIterator[ConsoleRuntime]:
    """Listen for changes, deliver replies, and check tokens for as long as the app runs."""
    settings = state.settings
    tokens = (
        TokenVerifier(TokenPolicy.from_settings(settings), signing_keys)
        if signing_keys is not None
        else None
    )
    feed = listener_connect(state.engine.url)
    link_secret = settings.attachment_link_secret
    links = FileLinks(
        link_secret.get_secret_value().encode() if link_secret is not None else None,
        settings.public_base_url,
        settings.attachment_link_seconds,
    )
    outbound = OutboundDispatcher(
        state.sessions,
        senders,
        attempts=settings.outbound_attempts,
        retry_base_seconds=settings.outbound_retry_base_seconds,
        events_topic=settings.topic_events if settings.transport_is_kafka() else None,
        secrets=configured_secrets(settings),
        files=ReplyFiles(state.blobs, links),
    )
    drains = QueueDrains(
        lambda: in_transaction(
            state.sessions, lambda session: drain_waiting(session, settings, utcnow())
        )
    )
    await feed.start()
    try:
        if tokens is not None:
            await tokens.keys.start()
        resumed = await outbound.resume()
        if resumed:
            log.info("resumed %d queued replies", resumed)
        yield ConsoleRuntime(
            feed=feed,
            outbound=outbound,
            senders=senders,
            polls=KeyRateLimit("polls", settings.poll_rate_per_minute, burst=30),
            replies=KeyRateLimit("replies", settings.reply_rate_per_minute, burst=20),
            drains=drains,
            links=links,
            tokens=tokens,
        )
    finally:
        await drains.close()
        if tokens is not None:
            await tokens.close()
        await outbound.close(settings.shutdown_grace_seconds)
        await feed.close()
        await senders.close()


def console_runtime(request: Request) -> ConsoleRuntime:
    """The process's console runtime (a FastAPI dependency)."""
    runtime: ConsoleRuntime = request.app.state.console
    return runtime


def router_state(request: Request) -> RouterState:
    """The process's router state (a FastAPI dependency)."""
    state: RouterState = request.app.state.router
    return state
