"""Files an agent sends: uploaded to a conversation, carried by a reply, loaded to send.

An upload is checked like any inbound file and stored before it gets an id; a reply lists
the ids of uploads of its own conversation not sent yet, and takes them (`message_id`). The
dispatcher loads them with their bytes, and a signed link for providers that fetch media.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from router.attachments.inspection import AttachmentRules, inspect, safe_filename
from router.attachments.links import FileLinks
from router.attachments.ports import BlobStore
from router.channels import Channel
from router.errors import InvalidPayload, PayloadTooLarge, ProblemError
from router.inbound.envelope import AttachmentStatus
from router.models import Conversation, StoredAttachment
from router.outbound.ports import OutboundFile

# Voice has nothing to carry a file; SMS to a number without MMS is the provider's refusal.
CHANNELS_WITH_FILES = frozenset(
    {
        Channel.EMAIL,
        Channel.SMS,
        Channel.WHATSAPP,
        Channel.MESSENGER,
        Channel.INSTAGRAM,
        Channel.CHAT,
    }
)
MOST_FILES_PER_REPLY = 10


class FileRefused(ProblemError):
    status = 422
    problem = "file-refused"
    title = "The file is not accepted"


class ChannelTakesNoFiles(ProblemError):
    status = 422
    problem = "channel-takes-no-files"
    title = "This channel cannot carry files"


async def store_upload(
    session: AsyncSession,
    blobs: BlobStore,
    rules: AttachmentRules,
    conversation: Conversation,
    *,
    filename: str | None,
    content_type: str | None,
    content: bytes,
    agent_id: uuid.UUID | None,
    now: datetime,
) -> StoredAttachment:
    """Check an agent's file, store its bytes and record it on the conversation, unsent.

    Too large answers 413; a type not allowed, or bytes unlike their type, 422 naming why.
    """
    verdict = inspect(content, content_type, rules)
    if verdict.refused is not None:
        if verdict.refused.startswith("too large"):
            raise PayloadTooLarge(f"file: {verdict.refused}", limit=rules.max_bytes)
        raise FileRefused(f"file: {verdict.refused}", field="file")
    key = await blobs.put(content, verdict.content_type)
    stored = StoredAttachment(
        id=uuid.uuid4(),
        conversation_id=conversation.id,
        direction="outbound",
        channel=conversation.channel,
        filename=safe_filename(filename, "file"),
        content_type=verdict.content_type,
        size=len(content),
        sha256=key,
        blob_key=key,
        sniffed_type=verdict.sniffed,
        status=AttachmentStatus.STORED.value,
        uploaded_by=agent_id,
        created_at=now,
    )
    session.add(stored)
    await session.flush()
    return stored


async def files_for_reply(
    session: AsyncSession, conversation: Conversation, ids: Sequence[uuid.UUID]
) -> list[StoredAttachment]:
    """The uploads a reply names, locked; 422 naming the first that is not one to send."""
    if not ids:
        return []
    if Channel(conversation.channel) not in CHANNELS_WITH_FILES:
        raise ChannelTakesNoFiles(
            f"replies on {conversation.channel} cannot carry files; send text only",
            field="attachment_ids",
        )
    if len(set(ids)) != len(ids):
        raise InvalidPayload("attachment_ids: an id is listed twice", field="attachment_ids")
    found = {
        row.id: row
        for row in await session.scalars(
            select(StoredAttachment)
            .where(
                StoredAttachment.id.in_(ids),
                StoredAttachment.conversation_id == conversation.id,
                StoredAttachment.direction == "outbound",
            )
            .with_for_update()
        )
    }
    for index, attachment_id in enumerate(ids):
        row = found.get(attachment_id)
        where = f"attachment_ids[{index}]"
        if row is None:
            raise InvalidPayload(
                f"{where}: no upload {attachment_id} in this conversation", field=where
            )
        if row.message_id is not None:
            raise InvalidPayload(f"{where}: already sent with another reply", field=where)
    return [found[attachment_id] for attachment_id in ids]


async def attach(
    session: AsyncSession, message_id: uuid.UUID, files: Sequence[StoredAttachment]
) -> None:
    """Give the uploads to the (flushed) reply, in the order it lists them."""
    for position, row in enumerate(files):
        await session.execute(
            update(StoredAttachment)
            .where(StoredAttachment.id == row.id)
            .values(message_id=message_id, position=position)
        )


def metadata(files: Sequence[StoredAttachment]) -> list[dict[str, Any]]:
    """The reply's own copy of its files, as inbound messages keep theirs."""
    return [
        {
            "id": str(row.id),
            "filename": row.filename,
            "content_type": row.content_type,
            "size": row.size,
            "sha256": row.sha256,
            "blob_key": row.blob_key,
            "status": row.status,
        }
        for row in files
    ]


class ReplyFiles:
    """Loads a reply's files for its sender: bytes from the store, a link where possible."""

    def __init__(self, blobs: BlobStore, links: FileLinks) -> None:
        self._blobs = blobs
        self.links = links

    async def load(self, session: AsyncSession, message_id: uuid.UUID) -> tuple[OutboundFile, ...]:
        """The reply's files in order; `KeyError` when a file's bytes are missing."""
        rows = (
            await session.scalars(
                select(StoredAttachment)
                .where(StoredAttachment.message_id == message_id)
                .order_by(StoredAttachment.position)
            )
        ).all()
        files = []
        for row in rows:
            if row.blob_key is None:
                raise KeyError(row.id)
            files.append(
                OutboundFile(
                    filename=row.filename or "file",
                    content_type=row.content_type,
                    content=await self._blobs.get(row.blob_key),
                    url=self.links.url(row.id),
                )
            )
        return tuple(files)
