"""Web-chat replies: posted, signed, to the widget backend of the visitor's site.

The router signs each reply the way the widget signs its webhooks to us (`X-Router-Timestamp`,
`X-Router-Signature: v1=<hex HMAC-SHA256(ROUTER_WEBCHAT_SECRET, timestamp + "." + body)>`),
so the backend checks it with the code it already has. The body is a `ChatReply`; any 2xx
answer means the backend took it (`sent`), 429 and 5xx are tried again, other 4xx are final.
The backend may later report `delivered` and `read` on `POST /webhooks/chat` (`reply.status`).
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated, Literal

import httpx
from fastapi import APIRouter, Response
from pydantic import AwareDatetime, BaseModel, Field

from adapters.channels.webchat import SIGNATURE_HEADER, SIGNATURE_SCHEME, TIMESTAMP_HEADER
from adapters.channels.webhook import hmac_hex
from adapters.outbound.http import refusal
from router.inbound.envelope import utcnow
from router.outbound.ports import DeliveryError, OutboundReply, Sent

PROVIDER = "webchat"


class ChatReplyFile(BaseModel):
    """A file sent with the reply: what it is, and where the widget may fetch it."""

    filename: str
    content_type: str
    size: Annotated[int, Field(description="Bytes")]
    url: Annotated[str | None, Field(description="A signed, expiring link, when there is one")]


class ChatReply(BaseModel):
    """An agent's reply to a web-chat visitor, as the router posts it to the site's backend."""

    type: Literal["reply"] = "reply"
    event_id: Annotated[
        str,
        Field(
            description="The reply's message id: unique, the same on every retry; name it in"
            " `reply.status` events"
        ),
    ]
    site: Annotated[str, Field(description="The `site` the visitor wrote through")]
    session_id: Annotated[str, Field(description="The widget's chat session answered")]
    visitor_id: Annotated[str, Field(description="The visitor's `visitor.id`")]
    text: str
    agent_name: Annotated[str | None, Field(description="The replying agent's display name")]
    sent_at: Annotated[AwareDatetime, Field(description="When the router sent it (RFC 3339)")]
    files: list[ChatReplyFile] = []


def chat_reply(reply: OutboundReply, sent_at: datetime) -> ChatReply:
    """The document posted for `reply`."""
    if not reply.session_id:
        raise DeliveryError(f"{PROVIDER}: the reply names no chat session", retryable=False)
    return ChatReply(
        event_id=str(reply.message_id),
        site=reply.sender,
        session_id=reply.session_id,
        visitor_id=reply.to,
        text=reply.text,
        agent_name=reply.author_name,
        sent_at=sent_at,
        files=[
            ChatReplyFile(
                filename=file.filename,
                content_type=file.content_type,
                size=len(file.content),
                url=file.url,
            )
            for file in reply.files
        ],
    )


def signed_headers(secret: bytes, body: bytes, now: float | None = None) -> dict[str, str]:
    """The widget scheme's headers for `body`, signed at `now` (unix seconds)."""
    timestamp = str(int(time.time() if now is None else now))
    signature = hmac_hex(secret, timestamp.encode() + b"." + body)
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: f"{SIGNATURE_SCHEME}={signature}",
    }


class WebChatSender:
    """POSTs each reply to the `reply_url` of the visitor's site."""

    provider = PROVIDER

    def __init__(self, client: httpx.AsyncClient, secret: str) -> None:
        self._client = client
        self._secret = secret.encode()

    async def send(self, reply: OutboundReply) -> Sent:
        """Post the signed reply; its message id is the id status events name."""
        if not reply.reply_url:
            raise DeliveryError(
                f"{PROVIDER}: site {reply.sender!r} has no reply URL", retryable=False
            )
        body = chat_reply(reply, utcnow()).model_dump_json().encode()
        try:
            response = await self._client.post(
                reply.reply_url, content=body, headers=signed_headers(self._secret, body)
            )
        except httpx.HTTPError as error:
            raise DeliveryError(f"{PROVIDER}: {type(error).__name__}", retryable=True) from None
        if response.status_code >= 300:
            raise refusal(PROVIDER, response)
        return Sent(str(reply.message_id))


reply_webhooks = APIRouter(tags=["webhooks"])


@reply_webhooks.post(
    "chat-reply",
    operation_id="chat_reply",
    summary="An agent's reply, posted to the site's widget backend (`reply_url`)",
    status_code=200,
    response_class=Response,
    responses={
        200: {"description": "Any 2xx: the backend took the reply (status `sent`)"},
        429: {"description": "Tried again later (honouring Retry-After)"},
        500: {"description": "Any 5xx, or no answer in time: tried again with back-off"},
        400: {"description": "Any other 4xx: final, the reply is marked `failed`"},
    },
    openapi_extra={
        "parameters": [
            {
                "name": TIMESTAMP_HEADER,
                "in": "header",
                "required": True,
                "schema": {"type": "string"},
                "description": "Unix seconds when the router signed the request",
            },
            {
                "name": SIGNATURE_HEADER,
                "in": "header",
                "required": True,
                "schema": {"type": "string"},
                "description": '`v1=<hex HMAC-SHA256(ROUTER_WEBCHAT_SECRET, timestamp + "."'
                " + raw body)>`, as the widget signs its webhooks",
            },
        ]
    },
)
async def chat_reply_webhook(body: ChatReply) -> None:
    """What the router sends; the widget backend implements it (documentation only)."""
