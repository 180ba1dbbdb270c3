"""Attachment bytes that arrive inside a webhook (email parts), kept before the event goes out.

The webhook answers 2xx only once its events are durable, so the bytes they point at are
written first. A part that is too large, of a type not allowed, or whose bytes contradict
its declared type stays on the message as metadata with the reason, never refusing the
message that carried it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from router.attachments.inspection import AttachmentRules, inspect
from router.attachments.ports import BlobStore
from router.inbound.envelope import Attachment, AttachmentStatus


async def keep_parts(
    blobs: BlobStore,
    rules: AttachmentRules,
    attachments: Sequence[Attachment],
    contents: Sequence[bytes | None],
) -> list[Attachment]:
    """The attachments with their bytes stored (or refused); `contents[i]` is part i's bytes.

    A part without bytes (a link, a stored-elsewhere file) is returned as it is.
    """
    kept = await asyncio.gather(
        *(
            keep_one(blobs, rules, attachment, content)
            for attachment, content in zip(attachments, contents, strict=False)
        )
    )
    return [*kept, *attachments[len(kept) :]]


async def keep_one(
    blobs: BlobStore, rules: AttachmentRules, attachment: Attachment, content: bytes | None
) -> Attachment:
    """One attachment with its bytes checked and, when they pass, stored."""
    if content is None:
        return attachment
    verdict = inspect(content, attachment.content_type, rules)
    facts: dict[str, object] = {"size": len(content), "sniffed_type": verdict.sniffed}
    if verdict.refused is not None:
        return attachment.model_copy(
            update={**facts, "status": AttachmentStatus.REFUSED, "reason": verdict.refused}
        )
    key = await blobs.put(content, verdict.content_type)
    return attachment.model_copy(
        update={
            **facts,
            "content_type": verdict.content_type,
            "status": AttachmentStatus.STORED,
            "blob_key": key,
            "sha256": key,
        }
    )
