"""Sends stored replies through their channel's sender, with retries, and records the outcome.

A reply is committed first (`delivery_status = queued`), then handed here. Sending claims the
row with a lease on `delivery_updated_at`, so two processes (or a restart that resumes queued
replies) never send the same reply at once; the outcome (`sent` with the provider's id, or
`failed` with the reason) is written back on the message. A failure is also a `reply_failed`
event of the conversation, in the same transaction (see `router.outbound.failures`).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from contextlib import suppress
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.attachments.outgoing import ReplyFiles
from router.channels import Channel
from router.conversations.history import Journal
from router.db import transaction
from router.inbound.envelope import DeliveryStatus, utcnow
from router.models import Agent, ChatSite, Message
from router.outbound.backoff import RetryPolicy
from router.outbound.email_thread import (
    canonical_message_id,
    canonical_message_ids,
    outbound_message_id,
)
from router.outbound.failures import ReplyFailure, masked, record_failures
from router.outbound.ports import (
    CommentReply,
    DeliveryError,
    OutboundFile,
    OutboundReply,
    OutboundTemplate,
    SenderDirectory,
)

log = logging.getLogger(__name__)


class MissingFile(LookupError):
    """A reply's file has no bytes to send: the reply fails rather than going without it."""


# Longer than every attempt with its back-off together, so a live sender never loses its claim:
# at most 10 attempts (settings) with 9 waits of at most RETRY_WAIT_MAX, each call bounded by
# ROUTER_OUTBOUND_TIMEOUT_SECONDS.
CLAIM_LEASE = timedelta(minutes=5)
# The longest wait between two attempts, even when a provider's Retry-After asks for more.
RETRY_WAIT_MAX = timedelta(seconds=20)


class OutboundDispatcher:
    """Delivers replies in background tasks of this process."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        directory: SenderDirectory,
        *,
        attempts: int,
        retry_base_seconds: float,
        clock: Callable[[], datetime] = utcnow,
        retry_policy: RetryPolicy | None = None,
        events_topic: str | None = None,
        secrets: tuple[str, ...] = (),
        files: ReplyFiles | None = None,
    ) -> None:
        self._sessions = sessions
        # Where `reply_failed` events are published (None: history only, no outbox).
        self._events_topic = events_topic
        self._secrets = secrets
        self._files = files
        self._directory = directory
        self._attempts = attempts
        self._retry = retry_policy or RetryPolicy(
            base_seconds=retry_base_seconds, max_seconds=RETRY_WAIT_MAX.total_seconds()
        )
        self._clock = clock
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(self, message_id: uuid.UUID) -> None:
        """Start delivering a committed reply; returns at once."""
        task = asyncio.create_task(self.deliver(message_id), name=f"deliver-{message_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def resume(self) -> int:
        """Submit replies left queued (by a restart or a crash); returns how many."""
        async with self._sessions() as session:
            ids = (
                await session.scalars(
                    select(Message.id).where(
                        Message.direction == "outbound",
                        Message.delivery_status == DeliveryStatus.QUEUED.value,
                    )
                )
            ).all()
        for message_id in ids:
            self.submit(message_id)
        return len(ids)

    async def idle(self) -> None:
        """Wait until every submitted delivery has finished."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self, grace_seconds: float) -> None:
        """Let deliveries in flight finish within the grace period; the rest resume later."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(list(self._tasks), timeout=grace_seconds)
        for task in pending:
            task.cancel()
        for task in pending:
            with suppress(asyncio.CancelledError):
                await task

    async def deliver(self, message_id: uuid.UUID) -> None:
        """Send one reply with retries and record `sent` or `failed` on it."""
        try:
            reply, via = await self._claim(message_id)
        except MissingFile as missing:
            await self._record(message_id, failed=str(missing))
            return
        except LookupError:
            return  # already sent, failed, or being sent by another process
        sender = self._directory.sender_for(reply.channel, via)
        if sender is None:
            await self._record(
                message_id, failed=f"no outbound sender for {reply.channel}", provider=via
            )
            return
        for attempt in range(1, self._attempts + 1):
            retry_after: float | None = None
            status_code: int | None = None
            try:
                sent = await sender.send(reply)
            except DeliveryError as error:
                problem, retryable, retry_after = error.detail, error.retryable, error.retry_after
                status_code = error.status_code
            except Exception as error:  # a sender's bug must not leave the reply queued
                log.exception("outbound sender %s failed unexpectedly", sender.provider)
                problem, retryable = f"{type(error).__name__}", True
            else:
                await self._record(message_id, sent=sent.provider_message_id, attempts=attempt)
                return
            if not retryable or attempt == self._attempts:
                await self._record(
                    message_id,
                    failed=problem,
                    attempts=attempt,
                    provider=sender.provider,
                    status_code=status_code,
                )
                return
            await asyncio.sleep(self._retry.wait_seconds(attempt, retry_after))

    async def _claim(self, message_id: uuid.UUID) -> tuple[OutboundReply, str]:
        now = self._clock()
        async with transaction(self._sessions) as session:
            row = (
                await session.execute(
                    update(Message)
                    .where(
                        Message.id == message_id,
                        Message.direction == "outbound",
                        Message.delivery_status == DeliveryStatus.QUEUED.value,
                        or_(
                            Message.delivery_updated_at.is_(None),
                            Message.delivery_updated_at < now - CLAIM_LEASE,
                        ),
                    )
                    .values(delivery_updated_at=now)
                    .returning(
                        Message.channel,
                        Message.recipient,
                        Message.sender,
                        Message.text,
                        Message.subject,
                        Message.details,
                        Message.author_agent_id,
                        Message.conversation_id,
                    )
                )
            ).first()
            if row is None:
                raise LookupError(message_id)
            channel, recipient, sender, text, subject, details, author, cid = row
            details = details or {}
            author_name = reply_url = None
            session_id = details.get("session_id")
            if channel == Channel.CHAT.value:
                if not session_id:
                    # A message the router sends by itself (a survey) answers the visitor's
                    # latest session.
                    session_id = await session.scalar(
                        select(Message.details["session_id"].astext)
                        .where(Message.conversation_id == cid, Message.direction == "inbound")
                        .order_by(Message.created_at.desc(), Message.id.desc())
                        .limit(1)
                    )
                # Read at sending time, so a site's changed URL applies to queued replies.
                reply_url = await session.scalar(
                    select(ChatSite.reply_url).where(ChatSite.site == sender)
                )
                if author is not None:
                    author_name = await session.scalar(
                        select(Agent.display_name).where(Agent.id == author)
                    )
            files = await self._load_files(session, message_id)
        email_id = None
        if channel == Channel.EMAIL.value:
            # Replies stored before ids were canonical may hold them bracketed, or no own id.
            email_id = canonical_message_id(details.get("message_id")) or outbound_message_id(
                message_id, sender or ""
            )
        reply = OutboundReply(
            message_id=message_id,
            channel=Channel(channel),
            to=recipient or "",
            sender=sender or "",
            text=text,
            subject=subject,
            email_message_id=email_id,
            in_reply_to=canonical_message_id(details.get("in_reply_to")),
            references=tuple(canonical_message_ids(details.get("references") or ())),
            auto_submitted=details.get("auto_submitted"),
            session_id=session_id,
            reply_url=reply_url,
            author_name=author_name,
            files=files,
            template=_template(details.get("template")),
            comment=_comment(details.get("comment"), details.get("visibility")),
        )
        return reply, str(details.get("via") or "")

    async def _load_files(
        self, session: AsyncSession, message_id: uuid.UUID
    ) -> tuple[OutboundFile, ...]:
        if self._files is None:
            return ()
        try:
            return await self._files.load(session, message_id)
        except KeyError:
            raise MissingFile("a file of the reply is missing from the blob store") from None

    async def _record(
        self,
        message_id: uuid.UUID,
        *,
        sent: str | None = None,
        failed: str | None = None,
        attempts: int = 0,
        provider: str = "",
        status_code: int | None = None,
    ) -> None:
        values: dict[str, Any] = {
            "delivery_updated_at": self._clock(),
            "details": Message.details.op("||")(func.jsonb_build_object("attempts", attempts)),
        }
        if sent is not None:
            values.update(delivery_status=DeliveryStatus.SENT.value, provider_message_id=sent)
        else:
            failed = masked(failed or "", self._secrets)
            values.update(delivery_status=DeliveryStatus.FAILED.value, delivery_error=failed)
            # The reason stays on the row: a provider's error text may quote addresses.
            log.warning("reply %s not delivered", message_id)
        try:
            async with transaction(self._sessions) as session:
                conversation_id = await session.scalar(
                    update(Message)
                    .where(
                        Message.id == message_id,
                        Message.delivery_status == DeliveryStatus.QUEUED.value,
                    )
                    .values(**values)
                    .returning(Message.conversation_id)
                )
                if failed is not None and conversation_id is not None:
                    journal = Journal(self._clock(), self._events_topic)
                    failure = ReplyFailure(
                        message_id, conversation_id, provider, failed, status_code, attempts
                    )
                    await record_failures(session, journal, [failure])
                    await journal.flush(session)
        except Exception:
            log.exception("could not record the delivery of reply %s", message_id)


def _template(stored: Any) -> OutboundTemplate | None:
    """The template a reply was stored with (`details.template`), if it is one."""
    if not isinstance(stored, dict):
        return None
    return OutboundTemplate(
        name=str(stored["name"]),
        language=str(stored["language"]),
        parameters=tuple(str(value) for value in stored.get("parameters") or ()),
    )


def _comment(stored: Any, visibility: Any) -> CommentReply | None:
    """The comment a reply answers (`details.comment`), and how (`details.visibility`)."""
    if not isinstance(stored, dict) or visibility not in ("public", "private"):
        return None
    media = stored.get("mention_media_id")
    return CommentReply(
        visibility=str(visibility),
        comment_id=str(stored["comment_id"]),
        mention_media_id=str(media) if media else None,
    )
