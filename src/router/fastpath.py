"""The app's outermost middleware: webhooks go straight to their endpoint; requests get an id.

Webhooks are the hot path, and their endpoints take nothing but the `Request` and return a
`Response`: FastAPI's routing, dependency solving and middleware would add most of a
webhook's CPU time and nothing to its answer. This layer looks the exact (method, path) up
in a table built from the webhook routers, calls the endpoint and answers its errors
through the app's own exception handlers. The routes stay declared in FastAPI, so the
OpenAPI document is the same and whatever the table does not hold (HEAD, a wrong method, a
trailing slash, every other path) goes on to the FastAPI stack as before.

Only FastAPI's own outer layers (the last-resort 500, telemetry) run before it. Because it
sees every request, this layer also gives each one its request id (the caller's
`X-Request-ID` when sane, else a new one; in the answer's header and in every log record
made while answering), counts webhook answers by channel, provider and status, and times
`/v1` API answers by route template, method and status class.
"""

from __future__ import annotations

import inspect
import time
import typing
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from router.observability.logs import new_request_id, request_id
from router.observability.metrics import count_webhook, observe_api, webhook_labels

Endpoint = Callable[[Request], Awaitable[Response]]
WEBHOOK_PREFIX = "/webhooks/"
API_PREFIX = "/v1/"
# The route label of a request no route took (an unknown path, a body over the limit).
UNMATCHED = "unmatched"


@dataclass(frozen=True, slots=True)
class FastRoute:
    """A webhook endpoint answered without FastAPI, with the labels of its answer count."""

    endpoint: Endpoint
    channel: str
    provider: str


def fast_routes(routers: Iterable[APIRouter]) -> dict[tuple[str, str], FastRoute]:
    """(method, path) -> endpoint of every route FastAPI would add nothing to.

    The routers must be the ones the app includes, without a prefix. A route qualifies when
    its path has no parameters, it has no dependencies, and its endpoint is a coroutine
    taking only the `Request` and returning a `Response`; any other route is left to
    FastAPI. HEAD is left to FastAPI too, which answers it for GET routes. The first route
    declared for a (method, path) wins, as in FastAPI.
    """
    table: dict[tuple[str, str], FastRoute] = {}
    for router in routers:
        for route in router.routes:
            if not isinstance(route, APIRoute) or not _takes_only_the_request(route):
                continue
            channel, provider = webhook_labels(route.path)
            for method in sorted((route.methods or set()) - {"HEAD"}):
                table.setdefault((method, route.path), FastRoute(route.endpoint, channel, provider))
    return table


def _takes_only_the_request(route: APIRoute) -> bool:
    endpoint = route.endpoint
    if "{" in route.path or route.dependencies or not inspect.iscoroutinefunction(endpoint):
        return False
    parameters = list(inspect.signature(endpoint).parameters)
    hints = typing.get_type_hints(endpoint)
    answer = hints.get("return")
    return (
        len(parameters) == 1
        and hints.get(parameters[0]) is Request
        and isinstance(answer, type)
        and issubclass(answer, Response)
    )


class WebhookFastPath:
    """ASGI middleware, added last so it runs first: fast webhooks, request ids, counts."""

    def __init__(self, app: ASGIApp, *, routes: Mapping[tuple[str, str], FastRoute]) -> None:
        self.app = app
        self._routes = dict(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        current = new_request_id(_presented_request_id(scope))
        token = request_id.set(current)
        try:
            # Under a root path FastAPI matches the path without it: leave those to FastAPI.
            key = (scope["method"], scope["path"])
            route = None if scope.get("root_path") else self._routes.get(key)
            if route is None:
                await self._forward(current, scope, receive, send)
            else:
                await self._answer(route, current, scope, receive, send)
        finally:
            request_id.reset(token)

    async def _answer(
        self, route: FastRoute, current: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        request = Request(scope, receive)
        status = 500  # unless an answer is made: an error no handler takes escapes as a 500
        try:
            try:
                response = await route.endpoint(request)
            except Exception as error:
                response = await _error_answer(request, error)
            status = response.status_code
            await response(scope, receive, _with_request_id(send, current))
        finally:
            count_webhook(route.channel, route.provider, status)

    async def _forward(self, current: str, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        send_with_id = _with_request_id(send, current)
        if path.startswith(API_PREFIX):
            await _timed(self.app, scope, receive, send_with_id)
            return
        if not path.startswith(WEBHOOK_PREFIX):
            await self.app(scope, receive, send_with_id)
            return
        status = 500  # unless an answer starts: the server answers an escaped error with 500

        async def counting(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send_with_id(message)

        try:
            await self.app(scope, receive, counting)
        finally:
            count_webhook(*webhook_labels(path), status)


async def _timed(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Forward an API request and observe its answer's time by route template and status."""
    started = time.perf_counter()
    status = 500  # unless an answer starts: the server answers an escaped error with 500

    async def answering(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        await send(message)

    try:
        await app(scope, receive, answering)
    finally:
        # Routing puts the matched route in the scope, also for a 405 (the path's route).
        route = scope.get("route")
        template = getattr(route, "path", None) or UNMATCHED
        observe_api(template, scope["method"], status, time.perf_counter() - started)


async def _error_answer(request: Request, error: Exception) -> Response:
    """The answer the app's exception handlers give to `error`, looked up as Starlette does.

    Call it while handling `error`: the handler of unexpected errors logs the traceback.
    An error no handler takes is raised again, for the server to answer.
    """
    handlers: Mapping[object, Callable[[Request, Exception], object]]
    handlers = request.app.exception_handlers
    for kind in type(error).__mro__:
        handler = handlers.get(kind)
        if handler is not None:
            answer = handler(request, error)
            if inspect.isawaitable(answer):
                answer = await answer
            if not isinstance(answer, Response):
                raise TypeError(f"the handler of {kind.__name__} did not return a Response")
            return answer
    raise error


def _presented_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            presented: str = value.decode("latin-1")
            return presented
    return None


def _with_request_id(send: Send, current: str) -> Send:
    header = (b"x-request-id", current.encode())

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", ()), header]
        await send(message)

    return sending
