"""`/v1/conversations` and `/v1/me`: the agent console's HTTP API."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

from fastapi import APIRouter, BackgroundTasks, Depends, Header, Query, status
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from router.auth.dependencies import CurrentPrincipal
from router.auth.errors import Forbidden
from router.auth.service import Principal
from router.channels import Channel
from router.console import outreach, queries, service
from router.console.feed import EVERYONE
from router.console.runtime import ConsoleRuntime, console_runtime, router_state
from router.console.schemas import (
    ConversationDetail,
    ConversationPage,
    ConversationSummary,
    MeOut,
    MessageOut,
    NoteRequest,
    OutreachOut,
    OutreachRequest,
    PresenceRequest,
    ReopenRequest,
    ReplyRequest,
    ResolveRequest,
    TransferRequest,
)
from router.conversations import service as conversations
from router.db import in_transaction
from router.inbound.envelope import utcnow
from router.models import ConversationStatus, Message
from router.openapi import problems
from router.state import RouterState

router = APIRouter(prefix="/v1", tags=["console"])

State = Annotated[RouterState, Depends(router_state)]
Runtime = Annotated[ConsoleRuntime, Depends(console_runtime)]
T = TypeVar("T")

_READ = problems(401, 404, 422)
_ACT = problems(401, 403, 404, 409, 422)


async def _run(state: RouterState, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    return await in_transaction(state.sessions, work)


async def _send(
    state: RouterState,
    runtime: ConsoleRuntime,
    principal: Principal,
    queue_reply: Callable[[AsyncSession], Awaitable[Message]],
) -> MessageOut:
    """Store a reply as queued within the caller's reply rate; its sender takes it on commit."""
    runtime.replies.take(principal.caller_id)
    message = await _run(state, queue_reply)
    runtime.outbound.submit(message.id)
    return MessageOut.model_validate(message)


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _matches(if_none_match: str | None, etag: str) -> bool:
    # Only a tag this API issued counts; `*` would turn a poll into a wait for nothing.
    if not if_none_match:
        return False
    return etag in (tag.strip().removeprefix("W/") for tag in if_none_match.split(","))


@router.get(
    "/conversations",
    operation_id="conversations_list",
    summary="My conversations (long-poll with `wait` and If-None-Match)",
    response_model=ConversationPage,
    responses={
        304: {"description": "Nothing changed within `wait` seconds"},
        **problems(401, 422, 429),
    },
)
async def list_conversations(
    principal: CurrentPrincipal,
    state: State,
    runtime: Runtime,
    conversation_status: Annotated[ConversationStatus, Query(alias="status")] = (
        ConversationStatus.OPEN
    ),
    channel: Channel | None = None,
    queue: uuid.UUID | None = None,
    owned: Annotated[
        queries.Ownership,
        Query(
            description=(
                "Agents: `now` (default) what they own or are offered, `previously` what they"
                " owned once and handed on (read-only); supervisors get every conversation"
            )
        ),
    ] = queries.Ownership.NOW,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    wait: Annotated[
        int, Query(ge=0, le=30, description="Seconds to wait for a change of the result")
    ] = 0,
    if_none_match: Annotated[str | None, Header(max_length=1024)] = None,
) -> Response:
    """Agents get what they own or are offered (or, `status=resolved`, what they owned last),
    or with `owned=previously` what they owned once and handed on; supervisors get every
    conversation. With `If-None-Match` and `wait`, the answer comes as
    soon as the result differs from that ETag, or as 304 when `wait` runs out.
    """
    runtime.polls.take(principal.caller_id)
    filters = queries.ConversationFilter(
        status=conversation_status, channel=channel, queue_id=queue, owned=owned
    )
    watch_key = EVERYONE if principal.is_supervisor else str(principal.agent_id)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + min(wait, state.settings.console_max_wait_seconds)
    while True:
        # Taken before reading, so a change committed while we read still wakes us.
        changed = runtime.feed.watch(watch_key)
        async with state.sessions() as session:
            page = await queries.list_conversations(session, principal, filters, cursor, limit)
        body = page.model_dump_json().encode()
        etag = _etag(body)
        if not _matches(if_none_match, etag):
            return Response(body, media_type="application/json", headers={"ETag": etag})
        remaining = deadline - loop.time()
        if remaining <= 0:
            return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag})
        await runtime.feed.wait(changed, min(remaining, state.settings.console_recheck_seconds))


@router.post(
    "/conversations",
    operation_id="conversations_start",
    summary="Start a conversation: its first message goes out on email, SMS or WhatsApp",
    status_code=status.HTTP_201_CREATED,
    response_model=OutreachOut,
    responses=problems(401, 403, 409, 422, 429, 503),
)
async def start_conversation(
    body: OutreachRequest,
    principal: CurrentPrincipal,
    state: State,
    background: BackgroundTasks,
    runtime: Runtime,
) -> OutreachOut:
    """An agent starts it as its owner; a supervisor names the owner, or only a queue, where
    it waits and is offered like an arrival. The customer's answer joins it.
    """
    runtime.replies.take(principal.caller_id)
    conversation, message = await _run(
        state,
        lambda s: outreach.start_conversation(
            s, state.settings, principal, utcnow(), body, runtime.senders
        ),
    )
    runtime.outbound.submit(message.id)
    if conversation.agent_id is None:
        background.add_task(runtime.drains.after_commit)
    return OutreachOut(
        conversation=ConversationSummary.model_validate(conversation),
        message=MessageOut.model_validate(message),
    )


@router.get(
    "/conversations/{conversation_id}",
    operation_id="conversations_get",
    summary="A conversation with its messages and events (both paginated)",
    response_model=ConversationDetail,
    responses=_READ,
)
async def get_conversation(
    conversation_id: uuid.UUID,
    principal: CurrentPrincipal,
    state: State,
    messages_cursor: Annotated[str | None, Query(max_length=512)] = None,
    messages_limit: Annotated[int, Query(ge=1, le=200)] = 50,
    events_cursor: Annotated[str | None, Query(max_length=512)] = None,
    events_limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> ConversationDetail:
    async with state.sessions() as session:
        return await queries.conversation_detail(
            session,
            principal,
            conversation_id,
            messages_after=messages_cursor,
            messages_limit=messages_limit,
            events_after=events_cursor,
            events_limit=events_limit,
        )


@router.post(
    "/conversations/{conversation_id}/accept",
    operation_id="conversations_accept",
    summary="Accept the offer of this conversation",
    response_model=ConversationSummary,
    responses=_ACT,
)
async def accept(
    conversation_id: uuid.UUID, principal: CurrentPrincipal, state: State
) -> ConversationSummary:
    conversation = await _run(
        state,
        lambda s: service.accept(s, state.settings, principal, conversation_id, utcnow()),
    )
    return ConversationSummary.model_validate(conversation)


@router.post(
    "/conversations/{conversation_id}/decline",
    operation_id="conversations_decline",
    summary="Decline the offer; it goes back to the queue and to someone else",
    response_model=ConversationSummary,
    responses=_ACT,
)
async def decline(
    conversation_id: uuid.UUID,
    principal: CurrentPrincipal,
    state: State,
    background: BackgroundTasks,
    runtime: Runtime,
) -> ConversationSummary:
    conversation = await _run(
        state,
        lambda s: service.decline(s, state.settings, principal, conversation_id, utcnow()),
    )
    background.add_task(runtime.drains.after_commit)
    return ConversationSummary.model_validate(conversation)


@router.post(
    "/conversations/{conversation_id}/resolve",
    operation_id="conversations_resolve",
    summary="Resolve the conversation (owner or supervisor)",
    response_model=ConversationSummary,
    responses=_ACT,
)
async def resolve(
    conversation_id: uuid.UUID,
    principal: CurrentPrincipal,
    state: State,
    background: BackgroundTasks,
    runtime: Runtime,
    body: ResolveRequest | None = None,
) -> ConversationSummary:
    reason = body.reason if body else None
    senders = runtime.senders if body is None or body.survey else None
    conversation, survey = await _run(
        state,
        lambda s: service.resolve(
            s, state.settings, principal, conversation_id, utcnow(), reason, senders
        ),
    )
    if survey is not None:
        runtime.outbound.submit(survey)
    background.add_task(runtime.drains.after_commit)
    return ConversationSummary.model_validate(conversation)


@router.post(
    "/conversations/{conversation_id}/reopen",
    operation_id="conversations_reopen",
    summary="Reopen a resolved conversation (its last owner or a supervisor)",
    response_model=ConversationSummary,
    responses=_ACT,
)
async def reopen(
    conversation_id: uuid.UUID,
    principal: CurrentPrincipal,
    state: State,
    background: BackgroundTasks,
    runtime: Runtime,
    body: ReopenRequest | None = None,
) -> ConversationSummary:
    reason = body.reason if body else None
    conversation = await _run(
        state,
        lambda s: service.reopen(s, state.settings, principal, conversation_id, utcnow(), reason),
    )
    if conversation.agent_id is None:
        background.add_task(runtime.drains.after_commit)
    return ConversationSummary.model_validate(conversation)


@router.post(
    "/conversations/{conversation_id}/transfer",
    operation_id="conversations_transfer",
    summary="Transfer to an agent (as an offer) or a queue (keeping its place)",
    response_model=ConversationSummary,
    responses=_ACT,
)
async def transfer(
    conversation_id: uuid.UUID,
    body: TransferRequest,
    principal: CurrentPrincipal,
    state: State,
    background: BackgroundTasks,
    runtime: Runtime,
) -> ConversationSummary:
    conversation = await _run(
        state,
        lambda s: service.transfer(s, state.settings, principal, conversation_id, utcnow(), body),
    )
    background.add_task(runtime.drains.after_commit)
    return ConversationSummary.model_validate(conversation)


@router.post(
    "/conversations/{conversation_id}/notes",
    operation_id="conversations_add_note",
    summary="Add an internal note (never sent to the customer)",
    status_code=status.HTTP_201_CREATED,
    response_model=MessageOut,
    responses=problems(401, 404, 422),
)
async def add_note(
    conversation_id: uuid.UUID, body: NoteRequest, principal: CurrentPrincipal, state: State
) -> MessageOut:
    note = await _run(
        state, lambda s: service.add_note(s, principal, conversation_id, utcnow(), body.text)
    )
    return MessageOut.model_validate(note)


@router.post(
    "/conversations/{conversation_id}/replies",
    operation_id="conversations_reply",
    summary="Reply to the customer; stored as queued, then sent by the channel's provider",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=MessageOut,
    responses=problems(401, 403, 404, 409, 422, 429, 503),
)
async def reply(
    conversation_id: uuid.UUID,
    body: ReplyRequest,
    principal: CurrentPrincipal,
    state: State,
    runtime: Runtime,
) -> MessageOut:
    return await _send(
        state,
        runtime,
        principal,
        lambda s: service.add_reply(
            s,
            principal,
            conversation_id,
            utcnow(),
            body,
            runtime.senders,
            message_id_domain=state.settings.email_message_id_domain,
            settings=state.settings,
        ),
    )


@router.post(
    "/conversations/{conversation_id}/replies/{message_id}/retry",
    operation_id="conversations_retry_reply",
    summary="Send a failed reply again (owner or supervisor); it is queued, then sent",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=MessageOut,
    responses=problems(401, 403, 404, 409, 422, 429, 503),
)
async def retry_reply(
    conversation_id: uuid.UUID,
    message_id: uuid.UUID,
    principal: CurrentPrincipal,
    state: State,
    runtime: Runtime,
) -> MessageOut:
    return await _send(
        state,
        runtime,
        principal,
        lambda s: service.retry_reply(
            s, state.settings, principal, conversation_id, message_id, utcnow(), runtime.senders
        ),
    )


@router.get(
    "/me",
    operation_id="me_get",
    summary="Who I am: role, agent, load per channel, queues served",
    response_model=MeOut,
    responses=problems(401),
)
async def get_me(principal: CurrentPrincipal, state: State) -> MeOut:
    async with state.sessions() as session:
        return await queries.me(session, principal)


@router.put(
    "/me/presence",
    operation_id="me_set_presence",
    summary="Set my presence; going away hands unaccepted offers back",
    response_model=MeOut,
    responses=problems(401, 403, 422),
)
async def set_presence(
    body: PresenceRequest,
    principal: CurrentPrincipal,
    state: State,
    background: BackgroundTasks,
    runtime: Runtime,
) -> MeOut:
    agent_id = principal.agent_id
    if agent_id is None:
        raise Forbidden("only a key bound to an agent has a presence")

    async def work(session: AsyncSession) -> MeOut:
        await conversations.set_presence(
            session, state.settings, agent_id, body.presence, utcnow(), actor=principal.label
        )
        return await queries.me(session, principal)

    me = await _run(state, work)
    background.add_task(runtime.drains.after_commit)
    return me
