"""Fetches provider-hosted media after its message is stored, outside the webhook's path.

Meta and Twilio serve media only with credentials, and a download may be slow, so a webhook
only marks such attachments `pending`; the routing engine's process fetches them here. The
`attachments` table is the queue: a pending row is claimed by moving its `next_attempt_at`
past a lease (so two processes never fetch it at once, and a crash only delays it), then
fetched, checked and stored, or tried again later with back-off, or given up as `failed`
with the reason. The message's own copy of the attachment is updated in the same
transaction, so the console shows the same status the download index has.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.attachments.inspection import OCTET_STREAM, AttachmentRules, inspect, media_type
from router.attachments.ports import BlobStore, FetchError, MediaRequest, MediaSource
from router.db import is_unreachable, transaction
from router.inbound.envelope import AttachmentStatus, utcnow
from router.outbound.backoff import RetryPolicy

log = logging.getLogger(__name__)

# Longer than one fetch can take (the source's timeouts), so a live fetch keeps its claim.
CLAIM_LEASE = timedelta(minutes=5)
RETRY_WAIT_MAX = timedelta(minutes=10)
BATCH = 16

_CLAIM = text(
    """
UPDATE attachments AS a SET next_attempt_at = :lease_until, attempts = a.attempts + 1
FROM (SELECT id FROM attachments
      WHERE status = 'pending' AND next_attempt_at <= :now
      ORDER BY next_attempt_at LIMIT :limit FOR UPDATE SKIP LOCKED) AS due
WHERE a.id = due.id
RETURNING a.id, a.message_id, a.position, a.provider, a.channel, a.url, a.media_id,
          a.content_type, a.attempts
"""
)

_RECORD = text(
    """
UPDATE attachments SET status = :status, reason = :reason, blob_key = :blob_key,
       sha256 = :sha256, size = coalesce(:size, size), sniffed_type = :sniffed_type,
       content_type = :content_type, next_attempt_at = :next_attempt_at
WHERE id = :id AND status = 'pending'
"""
)

# The message keeps its own copy of each attachment (what the console lists): same facts.
_PATCH_MESSAGE = text(
    """
UPDATE messages
SET attachments = jsonb_set(
        attachments, CAST(:path AS text[]),
        (attachments -> CAST(:index AS int)) || CAST(CAST(:patch AS text) AS jsonb))
WHERE id = :message_id AND jsonb_typeof(attachments -> CAST(:index AS int)) = 'object'
"""
)


@dataclass(frozen=True)
class _Due:
    id: uuid.UUID
    message_id: uuid.UUID | None
    position: int | None
    request: MediaRequest
    content_type: str
    attempts: int


class AttachmentFetcher:
    """Fetches pending provider-hosted attachments into the blob store."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        source: MediaSource,
        blobs: BlobStore,
        rules: AttachmentRules,
        *,
        attempts: int,
        retry_base_seconds: float,
        clock: Callable[[], datetime] = utcnow,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        self._sessions = sessions
        self._source = source
        self._blobs = blobs
        self._rules = rules
        self._attempts = attempts
        self._retry = retry_policy or RetryPolicy(
            base_seconds=retry_base_seconds, max_seconds=RETRY_WAIT_MAX.total_seconds()
        )
        self._clock = clock

    async def run(self, stop: asyncio.Event, interval_seconds: float) -> None:
        """Fetch what is due until `stop` is set; a full batch is followed at once by the next."""
        try:
            while not stop.is_set():
                try:
                    fetched = await self.fetch_due()
                except Exception as error:
                    fetched = 0
                    if is_unreachable(error):
                        log.warning("attachment fetcher waits for the database")
                    else:
                        log.exception("attachment fetcher failed; trying again next interval")
                if fetched < BATCH:
                    with suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), interval_seconds)
        finally:
            await self._source.close()

    async def fetch_due(self) -> int:
        """Claim the attachments due now, fetch each, record each outcome; returns how many."""
        now = self._clock()
        async with transaction(self._sessions) as session:
            rows = (
                await session.execute(
                    _CLAIM, {"now": now, "lease_until": now + CLAIM_LEASE, "limit": BATCH}
                )
            ).all()
        due = [
            _Due(
                id=row[0],
                message_id=row[1],
                position=row[2],
                request=MediaRequest(
                    provider=row[3] or "", channel=row[4], url=row[5], media_id=row[6]
                ),
                content_type=row[7],
                attempts=row[8],
            )
            for row in rows
        ]
        await asyncio.gather(*(self._fetch(item) for item in due))
        return len(due)

    async def _fetch(self, due: _Due) -> None:
        try:
            media = await self._source.fetch(due.request, self._rules.max_bytes)
        except FetchError as error:
            await self._failed(due, error.detail, retryable=error.retryable)
            return
        except Exception as error:  # a source's bug must not leave the row claimed for good
            log.exception("media source failed unexpectedly")
            await self._failed(due, type(error).__name__, retryable=True)
            return
        declared = due.content_type
        if media_type(declared) == OCTET_STREAM and media.content_type:
            declared = media.content_type
        verdict = inspect(media.content, declared, self._rules)
        facts: dict[str, Any] = {
            "size": len(media.content),
            "sniffed_type": verdict.sniffed,
            "content_type": media_type(declared)[:255],
            "blob_key": None,
            "sha256": None,
            "reason": verdict.refused,
        }
        if verdict.refused is not None:
            await self._record(due, AttachmentStatus.REFUSED, facts)
            return
        key = await self._blobs.put(media.content, verdict.content_type)
        facts.update(blob_key=key, sha256=key, content_type=verdict.content_type)
        await self._record(due, AttachmentStatus.STORED, facts)

    async def _failed(self, due: _Due, reason: str, *, retryable: bool) -> None:
        facts: dict[str, Any] = {"reason": reason[:500]}
        if retryable and due.attempts < self._attempts:
            wait = self._retry.wait_seconds(due.attempts)
            facts["next_attempt_at"] = self._clock() + timedelta(seconds=wait)
            await self._record(due, AttachmentStatus.PENDING, facts)
            return
        log.warning("attachment %s not fetched after %d attempts", due.id, due.attempts)
        await self._record(due, AttachmentStatus.FAILED, facts)

    async def _record(self, due: _Due, status: AttachmentStatus, facts: dict[str, Any]) -> None:
        values = {
            "id": due.id,
            "status": status.value,
            "reason": facts.get("reason"),
            "blob_key": facts.get("blob_key"),
            "sha256": facts.get("sha256"),
            "size": facts.get("size"),
            "sniffed_type": facts.get("sniffed_type"),
            "content_type": facts.get("content_type", due.content_type),
            "next_attempt_at": facts.get("next_attempt_at"),
        }
        hidden = ("id", "next_attempt_at")
        patch = {key: value for key, value in values.items() if key not in hidden}
        if patch["size"] is None:
            del patch["size"]
        try:
            async with transaction(self._sessions) as session:
                await session.execute(_RECORD, values)
                if due.message_id is not None and due.position is not None:
                    await session.execute(
                        _PATCH_MESSAGE,
                        {
                            "message_id": due.message_id,
                            "path": [str(due.position)],
                            "index": due.position,
                            "patch": json.dumps(patch),
                        },
                    )
        except Exception:
            # The claim lapses and the attachment is fetched again: the blob put is idempotent.
            log.exception("could not record the fetch of attachment %s", due.id)
