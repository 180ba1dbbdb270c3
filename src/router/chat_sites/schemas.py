"""Request and response bodies of `/v1/chat-sites`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

# The same as the `site` of the web-chat webhook: a site id never contains `|`.
SITE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"


def _reply_url(value: str) -> str:
    if value != value.strip() or any(character.isspace() for character in value):
        raise ValueError("no spaces allowed in a URL")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  (raises on a port that is not a number)
    except ValueError as error:
        raise ValueError(f"not a URL: {error}") from None
    if parts.scheme not in ("https", "http"):
        raise ValueError("must be an https:// (or http://) URL")
    if not parts.hostname:
        raise ValueError("names no host")
    if parts.username is not None or parts.password is not None:
        # Credentials in the URL would be shown by every GET; replies are signed instead.
        raise ValueError("must not carry credentials (replies are signed)")
    if parts.fragment:
        raise ValueError("must not have a #fragment")
    return value


ReplyUrl = Annotated[
    str,
    Field(min_length=1, max_length=2048, examples=["https://chat.shop.example/router/replies"]),
    AfterValidator(_reply_url),
]


class ChatSiteRequest(BaseModel):
    """Where the site's widget backend takes replies."""

    model_config = ConfigDict(extra="forbid")

    reply_url: ReplyUrl = Field(description="The widget backend's URL the router POSTs replies to")


class ChatSiteOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    site: str
    reply_url: str
    created_at: datetime
    updated_at: datetime
