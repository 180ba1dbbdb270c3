"""Webhooks answered by the fast path get the answers FastAPI's routing would give them.

The app under test is the real one from `create_app`, with a stand-in transport instead of
a database and broker; the reference is a plain FastAPI app with the same webhook routers
and exception handlers and no fast path.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Sequence
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from prometheus_client import REGISTRY
from pydantic import SecretStr

from adapters.channels import webhook_routers
from router import exception_handlers
from router.app import create_app
from router.errors import TransportUnavailable
from router.fastpath import fast_routes
from router.observability.metrics import webhook_labels
from router.settings import Settings
from tests.adapters.channel_requests import PROBLEM_BASE, webchat_headers
from tests.adapters.conftest import SECRETS

BASE = "http://router.example.test"


class StandInTransport:
    """Takes events without keeping them, or fails the way it is told to."""

    name = "stand-in"

    def __init__(self) -> None:
        self.failure: Exception | None = None
        self.published = 0

    async def publish(self, events: Sequence[object]) -> None:
        if self.failure is not None:
            raise self.failure
        self.published += len(events)


@pytest.fixture
def settings() -> Settings:
    return Settings(
        webchat_secret=SecretStr(SECRETS["webchat_secret"]),
        meta_app_secret=SecretStr(SECRETS["meta_app_secret"]),
        meta_verify_token=SecretStr(SECRETS["meta_verify_token"]),
        public_base_url="https://router.example.test",
    )


@pytest.fixture
def transport() -> StandInTransport:
    return StandInTransport()


def _with_state(app: FastAPI, settings: Settings, transport: StandInTransport) -> FastAPI:
    app.state.router = SimpleNamespace(settings=settings, publisher=transport)
    return app


def _client(app: FastAPI, **options: Any) -> httpx.AsyncClient:
    asgi = httpx.ASGITransport(app=app, raise_app_exceptions=False, **options)
    return httpx.AsyncClient(transport=asgi, base_url=BASE)


@pytest.fixture
async def fast(settings: Settings, transport: StandInTransport) -> AsyncIterator[httpx.AsyncClient]:
    """The real app: webhooks through the fast path."""
    async with _client(_with_state(create_app(settings), settings, transport)) as client:
        yield client


@pytest.fixture
async def plain(
    settings: Settings, transport: StandInTransport
) -> AsyncIterator[httpx.AsyncClient]:
    """The same webhook routes and exception handlers, routed by FastAPI."""
    app = FastAPI()
    exception_handlers.install(app, settings.public_base_url)
    for router in webhook_routers():
        app.include_router(router)
    async with _client(_with_state(app, settings, transport)) as client:
        yield client


def _chat(event_id: str = "evt_fast_1") -> bytes:
    return json.dumps(
        {
            "event_id": event_id,
            "visitor": {"id": "v_fast", "name": "Ada"},
            "session_id": "s_fast",
            "site": "shop-main",
            "text": "Where is my order?",
            "sent_at": "2026-11-22T12:00:00Z",
        }
    ).encode()


def _answer(response: httpx.Response) -> tuple[int, list[tuple[str, str]], bytes]:
    headers = sorted((name, value) for name, value in response.headers.items())
    return response.status_code, [h for h in headers if h[0] != "x-request-id"], response.content


def _counted(path: str, status: int) -> float:
    channel, provider = webhook_labels(path)
    labels = {"channel": channel, "provider": provider, "status": str(status)}
    return REGISTRY.get_sample_value("router_webhook_requests_total", labels) or 0.0


def test_every_webhook_route_is_on_the_fast_path() -> None:
    declared = {
        (method, route.path)
        for router in webhook_routers()
        for route in router.routes
        for method in getattr(route, "methods", set()) - {"HEAD"}
    }
    table = fast_routes(webhook_routers())
    assert set(table) == declared
    assert ("POST", "/webhooks/chat") in table
    assert ("GET", "/webhooks/meta") in table
    for (_, path), route in table.items():
        assert (route.channel, route.provider) == webhook_labels(path)


def test_routes_that_need_fastapi_are_left_to_it() -> None:
    router = APIRouter()

    async def marker() -> None:
        return None

    @router.post("/webhooks/x/{name}")
    async def with_path_parameter(request: Request, name: str) -> Response:
        return Response()

    @router.post("/webhooks/x/query")
    async def with_query_parameter(request: Request, page: int = 1) -> Response:
        return Response()

    @router.post("/webhooks/x/dependency", dependencies=[Depends(marker)])
    async def with_dependency(request: Request) -> Response:
        return Response()

    @router.post("/webhooks/x/sync")
    def synchronous(request: Request) -> Response:
        return Response()

    @router.post("/webhooks/x/model")
    async def returns_a_model(request: Request) -> dict[str, str]:
        return {}

    @router.post("/webhooks/x/fast")
    async def fast(request: Request) -> Response:
        return Response()

    assert set(fast_routes([router])) == {("POST", "/webhooks/x/fast")}


async def test_answers_are_those_of_fastapi_routing(
    fast: httpx.AsyncClient, plain: httpx.AsyncClient, transport: StandInTransport
) -> None:
    body = _chat()
    requests: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/webhooks/chat", {"content": body, "headers": webchat_headers(body)}),
        ("POST", "/webhooks/chat", {"content": body, "headers": {"Content-Type": "text/plain"}}),
        (
            "POST",
            "/webhooks/chat",
            {"content": body, "headers": webchat_headers(body, signature="v1=00")},
        ),
        ("POST", "/webhooks/chat", {"content": b"{", "headers": webchat_headers(b"{")}),
        (
            "POST",
            "/webhooks/chat",
            {"content": b" " * 2_000_000, "headers": {"Content-Type": "application/json"}},
        ),
        (
            "GET",
            "/webhooks/meta",
            {
                "params": {
                    "hub.mode": "subscribe",
                    "hub.verify_token": SECRETS["meta_verify_token"],
                    "hub.challenge": "1158201444",
                }
            },
        ),
        ("GET", "/webhooks/meta", {"params": {"hub.mode": "subscribe", "hub.challenge": "1"}}),
        # Not on the fast path: FastAPI answers these as it always did.
        ("HEAD", "/webhooks/meta", {}),
        ("GET", "/webhooks/chat", {}),
        ("PUT", "/webhooks/twilio/sms", {}),
        ("POST", "/webhooks/chat/", {"content": body}),
        ("POST", "/webhooks/nowhere", {"content": body}),
    ]
    for method, path, options in requests:
        expected = await plain.request(method, path, **options)
        answered = await fast.request(method, path, **options)
        assert _answer(answered) == _answer(expected), (method, path)
    assert transport.published == 2  # the signed chat message, once per app

    transport.failure = TransportUnavailable("the event log is away", retry_after=7)
    headers = webchat_headers(body)
    expected = await plain.post("/webhooks/chat", content=body, headers=headers)
    answered = await fast.post("/webhooks/chat", content=body, headers=headers)
    assert _answer(answered) == _answer(expected)
    assert answered.status_code == 503
    assert answered.headers["content-type"] == "application/problem+json"
    assert answered.headers["retry-after"] == "7"
    assert answered.json()["type"] == PROBLEM_BASE + "transport-unavailable"


async def test_an_unexpected_error_is_a_logged_500_problem_and_serving_goes_on(
    fast: httpx.AsyncClient, transport: StandInTransport, caplog: pytest.LogCaptureFixture
) -> None:
    body = _chat("evt_fast_broken")
    before = _counted("/webhooks/chat", 500)
    transport.failure = RuntimeError("the transport broke")
    with caplog.at_level(logging.ERROR, logger="router.exception_handlers"):
        broken = await fast.post(
            "/webhooks/chat",
            content=body,
            headers={**webchat_headers(body), "X-Request-ID": "req-broken"},
        )

    assert broken.status_code == 500
    assert broken.headers["content-type"] == "application/problem+json"
    assert broken.json() == {
        "type": PROBLEM_BASE + "internal",
        "title": "Internal error",
        "status": 500,
        "detail": "an unexpected error occurred",
    }
    assert broken.headers["x-request-id"] == "req-broken"
    assert _counted("/webhooks/chat", 500) == before + 1
    [logged] = [record for record in caplog.records if record.getMessage() == "unhandled error"]
    assert logged.exc_info is not None
    assert isinstance(logged.exc_info[1], RuntimeError)
    assert getattr(logged, "request_id", None) == "req-broken"

    transport.failure = None
    again = await fast.post("/webhooks/chat", content=body, headers=webchat_headers(body))
    assert again.status_code == 200, again.text


async def test_every_answer_carries_one_request_id(fast: httpx.AsyncClient) -> None:
    body = _chat()
    presented = await fast.post(
        "/webhooks/chat", content=body, headers={**webchat_headers(body), "X-Request-ID": "req-7"}
    )
    generated = await fast.post("/webhooks/chat", content=body, headers=webchat_headers(body))
    refused = await fast.post(
        "/webhooks/chat", content=body, headers={"X-Request-ID": "bad\nid" * 40}
    )
    elsewhere = await fast.get("/openapi.json", headers={"X-Request-ID": "req-spec"})
    missing = await fast.get("/webhooks/chat")

    assert presented.headers.get_list("x-request-id") == ["req-7"]
    assert len(generated.headers.get_list("x-request-id")) == 1
    assert len(generated.headers["x-request-id"]) == 32
    assert len(refused.headers["x-request-id"]) == 32  # not the insane one presented
    assert elsewhere.status_code == 200
    assert elsewhere.headers.get_list("x-request-id") == ["req-spec"]
    assert missing.status_code == 405
    assert len(missing.headers.get_list("x-request-id")) == 1


async def test_webhook_answers_are_counted_on_and_off_the_fast_path(
    fast: httpx.AsyncClient,
) -> None:
    body = _chat()
    paths_statuses = [
        ("/webhooks/chat", 200),
        ("/webhooks/chat", 401),
        ("/webhooks/chat", 405),
        ("/webhooks/nowhere", 404),
    ]
    before = {key: _counted(*key) for key in paths_statuses}
    await fast.post("/webhooks/chat", content=body, headers=webchat_headers(body))
    await fast.post("/webhooks/chat", content=body, headers={"Content-Type": "application/json"})
    await fast.get("/webhooks/chat")
    await fast.post("/webhooks/nowhere", content=body)
    for key in paths_statuses:
        assert _counted(*key) == before[key] + 1, key


async def test_under_a_root_path_webhooks_are_left_to_fastapi(
    settings: Settings, transport: StandInTransport
) -> None:
    app = _with_state(create_app(settings), settings, transport)
    body = _chat()
    async with _client(app, root_path="/router") as client:
        answer = await client.post(
            "/router/webhooks/chat",
            content=body,
            headers={**webchat_headers(body), "X-Request-ID": "req-root"},
        )
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-request-id"] == "req-root"
    assert transport.published == 1
