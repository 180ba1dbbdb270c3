"""Media as Meta's Graph API and Twilio serve it, for the local provider stand-in.

WhatsApp: `GET /{media-id}` with the access token answers the media's URL, which answers
the bytes only with the same token. Twilio: the message's `MediaUrl` answers only with the
account's Basic auth, by redirecting to a CDN URL that must be fetched without it.
"""

from __future__ import annotations

import base64

from fastapi import Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from tests.console.providers import TWILIO_SID, TWILIO_TOKEN, WHATSAPP_TOKEN

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(40))
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + b"1 0 obj\n" * 8
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(60))
# media id (WhatsApp) or media sid (Twilio) -> (content type, bytes)
MEDIA: dict[str, tuple[str, bytes]] = {
    "wa-media-1": ("image/png", PNG),
    "ME0001": ("image/jpeg", JPEG),
    "ME0002": ("image/png", b"%PDF-1.7 not a picture"),
}
TWILIO_MEDIA_PREFIX = f"/2010-04-01/Accounts/{TWILIO_SID}/Messages/"


def twilio_media_url(base_url: str, media_sid: str) -> str:
    return f"{base_url}{TWILIO_MEDIA_PREFIX}MM0001/Media/{media_sid}"


def media_answer(path: str, request: Request) -> Response:
    """The answer of the fake hosts to a GET of `path`."""
    authorization = request.headers.get("authorization")
    bearer_ok = authorization == f"Bearer {WHATSAPP_TOKEN}"
    if path.startswith("/lookaside/"):
        media_id = path.removeprefix("/lookaside/")
        if not bearer_ok:
            return JSONResponse({"error": {"message": "no token", "code": 190}}, 401)
        kind, content = MEDIA[media_id]
        return Response(content, media_type=kind)
    if path.startswith(TWILIO_MEDIA_PREFIX):
        expected = base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
        if authorization != f"Basic {expected}":
            return JSONResponse({"code": 20003, "message": "Authenticate"}, 401)
        media_sid = path.rsplit("/", 1)[-1]
        if media_sid not in MEDIA:
            return JSONResponse({"code": 20404, "message": "not found"}, 404)
        # Twilio hands the file over on another host (its CDN): here `localhost` for
        # 127.0.0.1, another origin to an HTTP client, so the credentials must not follow.
        cdn = str(request.base_url).replace("127.0.0.1", "localhost")
        return RedirectResponse(f"{cdn}cdn/{media_sid}", 307)
    if path.startswith("/cdn/"):
        if authorization is not None:  # a CDN must never see the account's credentials
            return JSONResponse({"message": "credentials sent to the CDN"}, 400)
        kind, content = MEDIA[path.removeprefix("/cdn/")]
        return Response(content, media_type=kind)
    media_id = path.removeprefix("/")
    if media_id in MEDIA:
        if not bearer_ok:
            return JSONResponse({"error": {"message": "no token", "code": 190}}, 401)
        kind, _ = MEDIA[media_id]
        return JSONResponse(
            {
                "messaging_product": "whatsapp",
                "url": f"{request.base_url}lookaside/{media_id}",
                "mime_type": kind,
                "id": media_id,
            }
        )
    return JSONResponse({"message": "not found"}, 404)
