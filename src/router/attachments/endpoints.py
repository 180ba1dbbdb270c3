"""`/v1/conversations/{id}/attachments`: download what came in, upload what goes out.

`/files/{token}` serves a reply's file to a provider that takes media only by link (Twilio's
`MediaUrl`, Meta's `link`): the signed, expiring token is the permission.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, UploadFile, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from router.attachments.inspection import safe_filename
from router.attachments.outgoing import store_upload
from router.attachments.ports import BlobStore
from router.auth.dependencies import CurrentPrincipal
from router.console.queries import load_visible
from router.console.runtime import ConsoleRuntime, console_runtime, router_state
from router.console.service import require_may_send
from router.db import in_transaction
from router.errors import Conflict, NotFound
from router.inbound.envelope import AttachmentStatus, utcnow
from router.models import StoredAttachment
from router.openapi import problems
from router.state import RouterState

router = APIRouter(prefix="/v1", tags=["console"])
files_router = APIRouter(tags=["files"])

State = Annotated[RouterState, Depends(router_state)]
Runtime = Annotated[ConsoleRuntime, Depends(console_runtime)]

UPLOAD_PATH = re.compile(r"/v1/conversations/[^/]+/attachments")
# Room for the multipart framing around the file.
UPLOAD_OVERHEAD_BYTES = 64 * 1024


class UploadOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID = Field(description="List it in a reply's `attachment_ids` to send the file")
    filename: str | None
    content_type: str
    size: int | None
    sha256: str | None


@router.post(
    "/conversations/{conversation_id}/attachments",
    operation_id="conversations_attachment_upload",
    summary="Upload a file to send with a reply (multipart/form-data, field `file`)",
    status_code=status.HTTP_201_CREATED,
    response_model=UploadOut,
    responses=problems(401, 403, 404, 409, 413, 422),
)
async def upload(
    conversation_id: uuid.UUID,
    file: Annotated[UploadFile, File(description="The file; its type is checked")],
    principal: CurrentPrincipal,
    state: State,
) -> UploadOut:
    """Store a file for the conversation's next reply (the owner or a supervisor).

    Too large answers 413; a type not allowed or bytes unlike their type, 422 saying which.
    """
    content = await file.read()

    async def work(session: AsyncSession) -> UploadOut:
        conversation = await load_visible(session, principal, conversation_id, lock=False)
        require_may_send(principal, conversation, "uploads files")
        stored = await store_upload(
            session,
            state.blobs,
            state.settings.attachment_rules(),
            conversation,
            filename=file.filename,
            content_type=file.content_type,
            content=content,
            agent_id=principal.agent_id,
            now=utcnow(),
        )
        return UploadOut.model_validate(stored)

    return await in_transaction(state.sessions, work)


@files_router.get(
    "/files/{token}",
    operation_id="files_get",
    summary="A reply's file, by the signed link handed to a provider",
    response_class=StreamingResponse,
    responses={
        200: {"description": "The file", "content": {"application/octet-stream": {}}},
        **problems(404),
    },
)
async def shared_file(token: str, state: State, runtime: Runtime) -> StreamingResponse:
    """Stream the file a valid, unexpired link names; 404 for anything else."""
    attachment_id = runtime.links.attachment(token)
    if attachment_id is None:
        raise NotFound("no such file, or the link has expired")

    async def find(session: AsyncSession) -> StoredAttachment | None:
        found: StoredAttachment | None = await session.get(StoredAttachment, attachment_id)
        return found

    found = await in_transaction(state.sessions, find)
    if found is None or found.blob_key is None or not await state.blobs.exists(found.blob_key):
        raise NotFound("no such file, or the link has expired")
    key = found.blob_key
    return file_response(state.blobs, key, found.content_type, found.filename, found.size)


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
