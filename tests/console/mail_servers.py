"""Local stand-ins for the mail providers a reply can leave through.

One HTTP server answers like Postmark (`POST /email`), SendGrid (`POST /v3/mail/send`) and
Mailgun (`POST /v3/{domain}/messages`), refusing a request without the credentials the real
API needs; an aiosmtpd server plays the company's own mail server (with a login). Each
records what it was given as a `SentMail`, so a test checks the same facts (headers, text,
attachments) whichever way the mail went.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import uvicorn
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import UploadFile

from devstack.net import free_port

POSTMARK_TOKEN = "postmark-server-token"
SENDGRID_KEY = "SG.sendgrid-api-key"
MAILGUN_KEY = "mailgun-api-key"
SMTP_USER = "router"
SMTP_PASSWORD = "smtp-password"


@dataclass
class SentMail:
    """One email as a provider received it."""

    provider: str
    path: str
    headers: dict[str, str]
    text: str
    attachments: list[tuple[str, str, bytes]] = field(default_factory=list)
    raw: bytes = b""


@dataclass
class MailServers:
    base_url: str = ""
    smtp_port: int = 0
    sent: list[SentMail] = field(default_factory=list)

    def reset(self) -> None:
        self.sent.clear()

    def wait_for(self, count: int, seconds: float = 15.0) -> list[SentMail]:
        deadline = time.monotonic() + seconds
        while len(self.sent) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return list(self.sent)


def _refused(message: str, status: int = 401) -> JSONResponse:
    return JSONResponse({"message": message}, status)


def _app(state: MailServers) -> FastAPI:
    app = FastAPI()

    @app.post("/email")
    async def postmark(request: Request) -> Response:
        if request.headers.get("x-postmark-server-token") != POSTMARK_TOKEN:
            return JSONResponse({"ErrorCode": 10, "Message": "Bad or missing token"}, 401)
        document = json.loads(await request.body())
        headers = {item["Name"]: item["Value"] for item in document.get("Headers", [])}
        headers.update(From=document["From"], To=document["To"], Subject=document["Subject"])
        files = [
            (item["Name"], item["ContentType"], base64.b64decode(item["Content"]))
            for item in document.get("Attachments", [])
        ]
        state.sent.append(SentMail("postmark", "/email", headers, document["TextBody"], files))
        return JSONResponse(
            {"To": document["To"], "MessageID": str(uuid.uuid4()), "ErrorCode": 0, "Message": "OK"}
        )

    @app.post("/v3/mail/send")
    async def sendgrid(request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {SENDGRID_KEY}":
            return JSONResponse({"errors": [{"message": "authorization required"}]}, 401)
        document: dict[str, Any] = json.loads(await request.body())
        [personalization] = document["personalizations"]
        [to] = personalization["to"]
        headers = dict(document.get("headers", {}))
        headers.update(From=document["from"]["email"], To=to["email"], Subject=document["subject"])
        headers["X-Custom-Args"] = json.dumps(personalization.get("custom_args", {}))
        [content] = document["content"]
        assert content["type"] == "text/plain"
        files = [
            (item["filename"], item["type"], base64.b64decode(item["content"]))
            for item in document.get("attachments", [])
        ]
        state.sent.append(SentMail("sendgrid", "/v3/mail/send", headers, content["value"], files))
        return Response(status_code=202, headers={"X-Message-Id": uuid.uuid4().hex[:22]})

    @app.post("/v3/{domain}/messages")
    async def mailgun(domain: str, request: Request) -> Response:
        expected = base64.b64encode(f"api:{MAILGUN_KEY}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {expected}":
            return _refused("Forbidden")
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            return _refused("multipart/form-data expected", 400)
        form = await request.form()
        headers = {
            name[2:]: str(value) for name, value in form.multi_items() if name.startswith("h:")
        }
        headers.update(From=str(form["from"]), To=str(form["to"]), Subject=str(form["subject"]))
        files = []
        for name, value in form.multi_items():
            if name == "attachment" and isinstance(value, UploadFile):
                content = await value.read()
                files.append((value.filename or "", value.content_type or "", content))
        path = f"/v3/{domain}/messages"
        state.sent.append(SentMail("mailgun", path, headers, str(form["text"]), files))
        return JSONResponse({"id": headers.get("Message-ID", ""), "message": "Queued. Thank you."})

    return app


class _SmtpInbox:
    def __init__(self, state: MailServers) -> None:
        self._state = state

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        parsed = message_from_bytes(raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        headers = {name: str(value) for name, value in parsed.items()}
        body = parsed.get_body(("plain",))
        text = body.get_content() if body is not None else ""
        files = [
            (part.get_filename() or "", part.get_content_type(), part.get_payload(decode=True))
            for part in parsed.iter_attachments()
        ]
        self._state.sent.append(SentMail("smtp", "smtp", headers, text, files, raw))
        return "250 Message accepted for delivery"


def _login(server: Any, session: Session, envelope: Envelope, mechanism: str, data: Any) -> Any:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        SMTP_USER.encode(),
        SMTP_PASSWORD.encode(),
    )
    # Not handled here: aiosmtpd then answers 235 or 535 itself.
    return AuthResult(success=ok, handled=False)


class MailServersRunning:
    """Runs both servers in background threads."""

    def __init__(self) -> None:
        self.state = MailServers()
        port = free_port()
        self.state.base_url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(_app(self.state), host="127.0.0.1", port=port, log_level="warning")
        self._http = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._http.run, name="fake-mail-apis", daemon=True)
        self.state.smtp_port = free_port()
        self._smtp = Controller(
            _SmtpInbox(self.state),
            hostname="127.0.0.1",
            port=self.state.smtp_port,
            authenticator=_login,
            auth_require_tls=False,
        )

    def start(self) -> MailServers:
        self._thread.start()
        self._smtp.start()
        deadline = time.monotonic() + 10
        while not self._http.started:
            if time.monotonic() > deadline:
                raise TimeoutError("the fake mail APIs did not start")
            time.sleep(0.02)
        return self.state

    def stop(self) -> None:
        self._smtp.stop()
        self._http.should_exit = True
        self._thread.join(timeout=10)
