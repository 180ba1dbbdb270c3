"""`/v1/conversations/{id}/attachments`: download what came in, upload what goes out."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from router.attachments.inspection import safe_filename
from router.attachments.ports import BlobStore
from router.auth.dependencies import CurrentPrincipal
from router.console.queries import load_visible
from router.console.runtime import router_state
from router.db import in_transaction
from router.errors import Conflict, NotFound
from router.inbound.envelope import AttachmentStatus
from router.models import StoredAttachment
from router.openapi import problems
from router.state import RouterState

router = APIRouter(prefix="/v1", tags=["console"])

State = Annotated[RouterState, Depends(router_state)]


@router.get(
    "/conversations/{conversation_id}/attachments/{attachment_id}",
    operation_id="conversations_attachment_download",
    summary="Download an attachment of the conversation (its bytes, with its type)",
    response_class=StreamingResponse,
    responses={
        200: {"description": "The file", "content": {"application/octet-stream": {}}},
        **problems(401, 404, 409, 422),
    },
)
async def download(
    conversation_id: uuid.UUID,
    attachment_id: uuid.UUID,
    principal: CurrentPrincipal,
    state: State,
) -> StreamingResponse:
    """Stream a stored attachment to whoever may read the conversation (404 for others).

    A file not kept (still being fetched, refused, or given up) answers 409 with its status
    and reason.
    """

    async def find(session: AsyncSession) -> StoredAttachment:
        await load_visible(session, principal, conversation_id, lock=False)
        found = await session.scalar(
            select(StoredAttachment).where(
                StoredAttachment.id == attachment_id,
                StoredAttachment.conversation_id == conversation_id,
            )
        )
        if found is None:
            raise NotFound(f"attachment {attachment_id} does not exist in this conversation")
        return found

    found = await in_transaction(state.sessions, find)
    if found.status != AttachmentStatus.STORED or found.blob_key is None:
        status = found.status or "not kept"
        raise Conflict(
            f"attachment {attachment_id} has no content here: {status}"
            + (f" ({found.reason})" if found.reason else ""),
            attachment_status=status,
        )
    if not await state.blobs.exists(found.blob_key):
        raise NotFound(f"the content of attachment {attachment_id} is missing from the store")
    return file_response(
        state.blobs, found.blob_key, found.content_type, found.filename, found.size
    )


def file_response(
    blobs: BlobStore, key: str, content_type: str, filename: str | None, size: int | None
) -> StreamingResponse:
    """The stored bytes as a download: never rendered inline, never re-typed by the browser."""
    name = safe_filename(filename, "attachment")
    ascii_name = name.encode("ascii", "replace").decode().replace("?", "_")
    headers = {
        "Content-Disposition": (
            f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"
        ),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox",
        "Cache-Control": "private, max-age=0",
    }
    if size is not None:
        headers["Content-Length"] = str(size)

    async def chunks() -> AsyncIterator[bytes]:
        async for chunk in blobs.open(key):
            yield chunk

    return StreamingResponse(chunks(), media_type=content_type, headers=headers)
