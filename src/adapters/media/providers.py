"""Provider-hosted media, fetched with the provider's credentials (the `MediaSource` port).

- WhatsApp (Cloud API): `GET {graph}/{media-id}` with the access token answers the media's
  short-lived `url`, which is fetched with the same token.
- Messenger and Instagram: the attachment's URL is a signed CDN link; it is fetched as is,
  and no token is ever sent to it.
- Twilio (MMS, WhatsApp through Twilio): `MediaUrlN` with HTTP Basic auth (account SID and
  auth token), only when the URL is on the configured Twilio API host; Twilio answers with
  a redirect to the file, which is followed without the credentials.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx

from router.attachments.ports import FetchedMedia, FetchError, MediaRequest
from router.settings import Settings


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


class ProviderMedia:
    """Fetches media from Meta and Twilio with the credentials in the settings."""

    def __init__(self, settings: Settings) -> None:
        self._client = httpx.AsyncClient(
            timeout=settings.outbound_timeout_seconds,
            follow_redirects=True,
            headers={"User-Agent": "conversation-router"},
        )
        self._graph = settings.outbound_meta_base_url.rstrip("/")
        token = settings.outbound_whatsapp_token
        self._whatsapp_token = token.get_secret_value() if token is not None else None
        self._twilio_base = settings.outbound_twilio_base_url
        self._twilio_auth: tuple[str, str] | None = None
        if settings.outbound_twilio_account_sid and settings.twilio_auth_token is not None:
            self._twilio_auth = (
                settings.outbound_twilio_account_sid,
                settings.twilio_auth_token.get_secret_value(),
            )

    async def fetch(self, request: MediaRequest, max_bytes: int) -> FetchedMedia:
        """The media's bytes and the type the host answered with; `FetchError` otherwise."""
        if request.provider == "twilio":
            return await self._twilio(request, max_bytes)
        if request.provider == "meta" and request.media_id and request.channel == "whatsapp":
            return await self._whatsapp(request.media_id, max_bytes)
        if request.url:
            return await self._get(request.provider, request.url, max_bytes)
        raise FetchError(f"{request.provider}: no URL or media id to fetch", retryable=False)

    async def _twilio(self, request: MediaRequest, max_bytes: int) -> FetchedMedia:
        if not request.url:
            raise FetchError("twilio: the media has no URL", retryable=False)
        if self._twilio_auth is None:
            raise FetchError(
                "twilio: set ROUTER_OUTBOUND_TWILIO_ACCOUNT_SID and ROUTER_TWILIO_AUTH_TOKEN"
                " to fetch media",
                retryable=False,
            )
        if _origin(request.url) != _origin(self._twilio_base):
            # Credentials go to Twilio's API only, whatever URL a message names.
            raise FetchError("twilio: the media URL is not on the Twilio API host", retryable=False)
        auth = httpx.BasicAuth(*self._twilio_auth)
        return await self._get("twilio", request.url, max_bytes, auth=auth)

    async def _whatsapp(self, media_id: str, max_bytes: int) -> FetchedMedia:
        if self._whatsapp_token is None:
            raise FetchError(
                "meta: set ROUTER_OUTBOUND_WHATSAPP_TOKEN to fetch WhatsApp media", retryable=False
            )
        headers = {"Authorization": f"Bearer {self._whatsapp_token}"}
        try:
            response = await self._client.get(f"{self._graph}/{media_id}", headers=headers)
        except httpx.HTTPError as error:
            raise FetchError(f"meta: {type(error).__name__}", retryable=True) from None
        _check(response, "meta")
        try:
            described = response.json()
        except ValueError:
            raise FetchError("meta: the media lookup answered no JSON", retryable=False) from None
        url = described.get("url") if isinstance(described, dict) else None
        if not isinstance(url, str) or not url:
            raise FetchError("meta: the media lookup answered no url", retryable=False)
        fetched = await self._get("meta", url, max_bytes, headers=headers)
        declared = described.get("mime_type")
        if fetched.content_type is None and isinstance(declared, str):
            return FetchedMedia(fetched.content, declared)
        return fetched

    async def _get(
        self,
        provider: str,
        url: str,
        max_bytes: int,
        *,
        headers: dict[str, str] | None = None,
        auth: httpx.Auth | None = None,
    ) -> FetchedMedia:
        if urlsplit(url).scheme.lower() not in ("http", "https"):
            raise FetchError(f"{provider}: not an http(s) URL", retryable=False)
        try:
            async with self._client.stream(
                "GET", url, headers=headers, auth=auth or httpx.USE_CLIENT_DEFAULT
            ) as response:
                _check(response, provider)
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise FetchError(
                            f"{provider}: too large: over the limit of {max_bytes} bytes",
                            retryable=False,
                        )
                    chunks.append(chunk)
                kind = response.headers.get("content-type")
        except httpx.HTTPError as error:
            raise FetchError(f"{provider}: {type(error).__name__}", retryable=True) from None
        return FetchedMedia(b"".join(chunks), kind)

    async def close(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()


def _check(response: httpx.Response, provider: str) -> None:
    if response.status_code < 300:
        return
    retryable = response.status_code in (408, 429) or response.status_code >= 500
    raise FetchError(f"{provider} answered {response.status_code}", retryable=retryable)
