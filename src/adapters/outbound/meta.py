"""Replies on WhatsApp (Cloud API) and Messenger/Instagram (Send API) through Meta's Graph API.

Both take one file per message, by link: a reply with files is its text, then one message
per file (the provider id recorded is the text's).
"""

from __future__ import annotations

from typing import Any

import httpx

from adapters.outbound.http import media_link, post, required_id
from router.channels import Channel
from router.outbound.ports import (
    CommentReply,
    OutboundFile,
    OutboundReply,
    OutboundTemplate,
    Sent,
)

# The media types the Cloud API plays as such; any other file goes as a document.
_WHATSAPP_MEDIA = {
    "image/jpeg": "image",
    "image/png": "image",
    "video/mp4": "video",
    "video/3gpp": "video",
    "audio/aac": "audio",
    "audio/amr": "audio",
    "audio/mpeg": "audio",
    "audio/mp4": "audio",
    "audio/ogg": "audio",
}


def _whatsapp_media(file: OutboundFile, link: str) -> tuple[str, dict[str, Any]]:
    kind = _WHATSAPP_MEDIA.get(file.content_type, "document")
    media: dict[str, Any] = {"link": link}
    if kind == "document":
        media["filename"] = file.filename
    return kind, media


def _messenger_type(file: OutboundFile) -> str:
    major = file.content_type.split("/", 1)[0]
    return major if major in ("image", "video", "audio") else "file"


class WhatsAppSender:
    """`POST /{phone-number-id}/messages`: the number the customer wrote to answers."""

    provider = "meta"

    def __init__(self, client: httpx.AsyncClient, base_url: str, token: str) -> None:
        self._client = client
        self._base = base_url.rstrip("/")
        self._token = token

    async def send(self, reply: OutboundReply) -> Sent:
        """Send a text or template message (then each file); the `wamid` Meta returns is the
        provider id."""
        links = [media_link(file, self.provider) for file in reply.files]
        if reply.template is not None:
            sent = await self._message(reply, "template", whatsapp_template(reply.template))
        else:
            sent = await self._message(reply, "text", {"preview_url": False, "body": reply.text})
        for file, link in zip(reply.files, links, strict=True):
            await self._message(reply, *_whatsapp_media(file, link))
        return sent

    async def _message(self, reply: OutboundReply, kind: str, content: dict[str, Any]) -> Sent:
        body = await post(
            self._client,
            self.provider,
            f"{self._base}/{reply.sender}/messages",
            json={
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                # The router keeps numbers in E.164; the Cloud API wants the bare wa_id digits.
                "to": reply.to.removeprefix("+"),
                "type": kind,
                kind: content,
            },
            headers={"Authorization": f"Bearer {self._token}"},
        )
        return Sent(required_id(body, self.provider, "messages", 0, "id"))


def whatsapp_template(template: OutboundTemplate) -> dict[str, Any]:
    """The Cloud API's `template` object: name, language, the body's text parameters."""
    document: dict[str, Any] = {"name": template.name, "language": {"code": template.language}}
    if template.parameters:
        document["components"] = [
            {
                "type": "body",
                "parameters": [{"type": "text", "text": value} for value in template.parameters],
            }
        ]
    return document


class MessengerSender:
    """`POST /me/messages` with the page's token; Instagram messaging uses the same API.

    A reply to a comment goes as a private reply (the Send API addressed to the comment) or
    in public: under an Instagram comment (`/{comment-id}/replies`), a Page post's comment
    (`/{comment-id}/comments`), or an Instagram mention (`/{account}/mentions`).
    """

    provider = "meta"

    def __init__(self, client: httpx.AsyncClient, base_url: str, token: str) -> None:
        self._client = client
        self._base = base_url.rstrip("/")
        self._url = self._base + "/me/messages"
        self._token = token

    async def send(self, reply: OutboundReply) -> Sent:
        """Send a text message as a response to the customer (inside the 24 h window),
        then each file as an attachment by URL; a reply to a comment as its visibility says."""
        if reply.comment is not None:
            return await self._answer_comment(reply, reply.comment)
        links = [media_link(file, self.provider) for file in reply.files]
        sent = await self._message(reply, {"text": reply.text})
        for file, link in zip(reply.files, links, strict=True):
            attachment = {"type": _messenger_type(file), "payload": {"url": link}}
            await self._message(reply, {"attachment": attachment})
        return sent

    async def _message(self, reply: OutboundReply, message: dict[str, Any]) -> Sent:
        body = await post(
            self._client,
            self.provider,
            self._url,
            json={
                "recipient": {"id": reply.to},
                "messaging_type": "RESPONSE",
                "message": message,
            },
            headers={"Authorization": f"Bearer {self._token}"},
        )
        return Sent(required_id(body, self.provider, "message_id"))

    async def _answer_comment(self, reply: OutboundReply, comment: CommentReply) -> Sent:
        auth = {"Authorization": f"Bearer {self._token}"}
        if comment.visibility == "private":
            body = await post(
                self._client,
                self.provider,
                self._url,
                json={
                    "recipient": {"comment_id": comment.comment_id},
                    "message": {"text": reply.text},
                },
                headers=auth,
            )
            return Sent(required_id(body, self.provider, "message_id"))
        document: dict[str, Any] = {"message": reply.text}
        if comment.mention_media_id is not None:
            url = f"{self._base}/{reply.sender}/mentions"
            document.update(comment_id=comment.comment_id, media_id=comment.mention_media_id)
        elif reply.channel is Channel.INSTAGRAM:
            url = f"{self._base}/{comment.comment_id}/replies"
        else:
            url = f"{self._base}/{comment.comment_id}/comments"
        body = await post(self._client, self.provider, url, json=document, headers=auth)
        return Sent(required_id(body, self.provider, "id"))
