"""A local stand-in for the providers' REST APIs, served by uvicorn on a loopback port.

It answers like Postmark, Meta's Graph API, Twilio and a web-chat site's widget backend do,
refuses a request without the credentials (or signature) the real API needs, and records
every request so tests can check exactly what the real provider would have received.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from devstack.net import free_port

POSTMARK_TOKEN = "postmark-server-token"
WHATSAPP_TOKEN = "whatsapp-access-token"
PAGE_TOKEN = "page-access-token"
TWILIO_SID = "AC0123456789abcdef0123456789abcdef"
TWILIO_TOKEN = "twilio-auth-token"
# The widget backend of a web-chat site checks replies with the secret the widget signs with.
WEBCHAT_SECRET = "webchat-shared-secret"
CHAT_PATH = "/chat/replies"


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)
    wall_clock: float = field(default_factory=time.time)

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode()))


@dataclass
class FakeProviders:
    base_url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    # Statuses to answer with before answering normally (to exercise retries), each alone or
    # with the headers to answer it with (e.g. Retry-After).
    failures: list[int | tuple[int, dict[str, str]]] = field(default_factory=list)
    # How long each answer takes (to hold a reply in flight while a test looks).
    delay_seconds: float = 0.0
    # The body of those failure answers.
    failure_body: dict[str, Any] = field(
        default_factory=lambda: {"message": "temporarily unavailable"}
    )

    def reset(self) -> None:
        self.requests.clear()
        self.failures.clear()
        self.delay_seconds = 0.0
        self.failure_body = {"message": "temporarily unavailable"}

    def wait_for(self, count: int, seconds: float = 10.0) -> list[Recorded]:
        deadline = time.monotonic() + seconds
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return list(self.requests)


def _app(state: FakeProviders) -> FastAPI:
    app = FastAPI()

    @app.post("/{path:path}")
    async def record(path: str, request: Request) -> JSONResponse:
        body = await request.body()
        state.requests.append(
            Recorded("POST", "/" + path, {k.lower(): v for k, v in request.headers.items()}, body)
        )
        if state.delay_seconds:
            await asyncio.sleep(state.delay_seconds)
        if state.failures:
            failure = state.failures.pop(0)
            status, headers = failure if isinstance(failure, tuple) else (failure, {})
            return JSONResponse(state.failure_body, status_code=status, headers=headers)
        return _answer("/" + path, request, body)

    @app.get("/{path:path}")
    async def fetch(path: str, request: Request) -> Response:
        from tests.console.media_hosts import media_answer

        headers = {k.lower(): v for k, v in request.headers.items()}
        state.requests.append(Recorded("GET", "/" + path, headers, b""))
        if state.failures:
            failure = state.failures.pop(0)
            status, extra = failure if isinstance(failure, tuple) else (failure, {})
            return JSONResponse({"message": "unavailable"}, status_code=status, headers=extra)
        return media_answer("/" + path, request)

    return app


def _answer(path: str, request: Request, body: bytes) -> JSONResponse:
    headers = request.headers
    if path == "/email":
        if headers.get("x-postmark-server-token") != POSTMARK_TOKEN:
            return JSONResponse({"ErrorCode": 10, "Message": "Bad or missing token"}, 401)
        document = json.loads(body)
        return JSONResponse(
            {
                "To": document["To"],
                "SubmittedAt": "2026-11-23T10:00:00.000Z",
                "MessageID": str(uuid.uuid4()),
                "ErrorCode": 0,
                "Message": "OK",
            }
        )
    if path == "/me/messages":
        if headers.get("authorization") != f"Bearer {PAGE_TOKEN}":
            return JSONResponse(
                {"error": {"message": "Invalid OAuth access token", "code": 190}}, 401
            )
        recipient = json.loads(body)["recipient"]
        return JSONResponse(
            {"recipient_id": recipient.get("id", "psid"), "message_id": f"m_{uuid.uuid4().hex}"}
        )
    # Before the comment paths: the widget backend's path also ends in `/replies`.
    if path == CHAT_PATH:
        timestamp = headers.get("x-router-timestamp", "")
        digest = hmac.new(
            WEBCHAT_SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256
        ).hexdigest()
        if headers.get("x-router-signature") != f"v1={digest}":
            return JSONResponse({"error": "bad signature"}, 401)
        return JSONResponse({"received": json.loads(body)["event_id"]}, 202)
    if path.endswith(("/replies", "/comments", "/mentions")):
        # Public replies under comments and mentions: Meta answers with the new comment's id.
        if headers.get("authorization") != f"Bearer {PAGE_TOKEN}":
            return JSONResponse(
                {"error": {"message": "Invalid OAuth access token", "code": 190}}, 401
            )
        if not json.loads(body).get("message"):
            return JSONResponse({"error": {"message": "message is required", "code": 100}}, 400)
        return JSONResponse({"id": f"{uuid.uuid4().int % 10**17}"})
    if path.endswith("/messages"):
        if headers.get("authorization") != f"Bearer {WHATSAPP_TOKEN}":
            return JSONResponse(
                {"error": {"message": "Invalid OAuth access token", "code": 190}}, 401
            )
        document = json.loads(body)
        return JSONResponse(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": document["to"], "wa_id": document["to"]}],
                "messages": [{"id": f"wamid.{uuid.uuid4().hex}"}],
            }
        )
    if path == f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json":
        expected = base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
        if headers.get("authorization") != f"Basic {expected}":
            return JSONResponse({"code": 20003, "message": "Authenticate", "status": 401}, 401)
        form = dict(parse_qsl(body.decode()))
        return JSONResponse(
            {
                "sid": f"SM{uuid.uuid4().hex}",
                "status": "queued",
                "to": form["To"],
                "body": form.get("Body"),
            },
            201,
        )
    return JSONResponse({"message": "not found"}, 404)


class ProviderServer:
    """Runs the fake providers with uvicorn in a background thread."""

    def __init__(self) -> None:
        self.state = FakeProviders()
        port = free_port()
        self.state.base_url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(_app(self.state), host="127.0.0.1", port=port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="fake-providers", daemon=True)

    def start(self) -> FakeProviders:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise TimeoutError("the fake provider server did not start")
            time.sleep(0.02)
        return self.state

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
