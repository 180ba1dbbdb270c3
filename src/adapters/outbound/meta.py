"""Replies on WhatsApp (Cloud API) and Messenger/Instagram (Send API) through Meta's Graph API."""

from __future__ import annotations

from typing import Any

import httpx

from adapters.outbound.http import post, required_id
from router.channels import Channel
from router.outbound.ports import CommentReply, OutboundReply, OutboundTemplate, Sent


class WhatsAppSender:
    """`POST /{phone-number-id}/messages`: the number the customer wrote to answers."""

    provider = "meta"

    def __init__(self, client: httpx.AsyncClient, base_url: str, token: str) -> None:
        self._client = client
        self._base = base_url.rstrip("/")
        self._token = token

    async def send(self, reply: OutboundReply) -> Sent:
        """Send a text or template message; the `wamid` Meta returns becomes the provider id."""
        content: dict[str, Any]
        if reply.template is not None:
            content = {"type": "template", "template": whatsapp_template(reply.template)}
        else:
            content = {"type": "text", "text": {"preview_url": False, "body": reply.text}}
        body = await post(
            self._client,
            self.provider,
            f"{self._base}/{reply.sender}/messages",
            json={
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                # The router keeps numbers in E.164; the Cloud API wants the bare wa_id digits.
                "to": reply.to.removeprefix("+"),
                **content,
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
        """Send a text message as a response to the customer (inside the 24 h window)."""
        if reply.comment is not None:
            return await self._answer_comment(reply, reply.comment)
        body = await post(
            self._client,
            self.provider,
            self._url,
            json={
                "recipient": {"id": reply.to},
                "messaging_type": "RESPONSE",
                "message": {"text": reply.text},
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
