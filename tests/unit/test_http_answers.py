"""HTTP answers keep their headers, unreadable bodies are documented 422s, numbers are strict."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException

from router import exception_handlers
from router.admin.schemas import AgentCreate, AgentUpdate, PolicyDraft, QueueCreate, QueueUpdate
from router.app import create_app
from router.settings import Settings

BASE = "http://router.test"
PROBLEM_JSON = "application/problem+json"


def _client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url=BASE)


async def test_a_405_says_which_methods_the_path_takes() -> None:
    async with _client(create_app(Settings())) as client:
        api = await client.delete("/v1/me")
        webhook = await client.get("/webhooks/chat")
    assert api.status_code == 405
    assert api.headers["allow"] == "GET"
    assert api.json()["type"] == "/problems/method-not-allowed"
    assert webhook.status_code == 405
    assert webhook.headers["allow"] == "POST"


@pytest.mark.parametrize(
    ("status", "headers", "kind"),
    [
        (401, {"WWW-Authenticate": 'Bearer realm="router"'}, "about:blank"),
        (503, {"Retry-After": "7"}, "about:blank"),
        (405, {"Allow": "GET, HEAD"}, "/problems/method-not-allowed"),
    ],
)
async def test_http_errors_keep_their_headers(
    status: int, headers: dict[str, str], kind: str
) -> None:
    app = FastAPI()
    exception_handlers.install(app)

    @app.get("/refused")
    async def refused() -> None:
        raise HTTPException(status, "refused here", headers=headers)

    async with _client(app) as client:
        answer = await client.get("/refused")
    assert answer.status_code == status
    for name, value in headers.items():
        assert answer.headers[name] == value
    assert answer.headers["content-type"] == PROBLEM_JSON
    assert answer.json()["type"] == kind
    assert answer.json()["detail"] == "refused here"


def _json_body_operations(document: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if path.startswith("/v1/")
        and "application/json" in operation.get("requestBody", {}).get("content", {})
    ]


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b'{"reason": ', "not valid JSON: Expecting value"),
        (b'{"reason": "caf\xe9"}', "not UTF-8 text"),  # Latin-1, not UTF-8
    ],
)
async def test_a_body_that_is_not_json_is_a_documented_422_naming_the_body(
    body: bytes, why: str
) -> None:
    app = create_app(Settings())
    document = app.openapi()
    operations = _json_body_operations(document)
    assert len(operations) >= 12
    async with _client(app) as client:
        for method, path in operations:
            url = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)
            answer = await client.request(
                method, url, content=body, headers={"Content-Type": "application/json"}
            )
            assert answer.status_code == 422, (method, path, answer.text)
            assert answer.headers["content-type"] == PROBLEM_JSON
            problem = answer.json()
            assert problem["type"] == "/problems/invalid-request"
            assert problem["errors"][0]["field"] == "body"
            assert why in problem["errors"][0]["message"]
            documented = document["paths"][path][method.lower()]["responses"]
            assert PROBLEM_JSON in documented["422"]["content"], (method, path)


AGENT = {"handle": "ada", "display_name": "Ada"}
QUEUE = {"name": "billing"}
POLICY = {"default_queue": "default"}
RULE = {"name": "vip", "queue": "billing"}


@pytest.mark.parametrize("odd", [False, True, "3", 3.5, [3], {"value": 3}])
@pytest.mark.parametrize(
    ("model", "body", "field"),
    [
        (AgentCreate, {**AGENT, "capacity": {"email": "ODD"}}, ("capacity", "email")),
        (AgentCreate, {**AGENT, "skills": {"billing": "ODD"}}, ("skills", "billing")),
        (AgentUpdate, {"capacity": {"sms": "ODD"}}, ("capacity", "sms")),
        (QueueCreate, {**QUEUE, "priority": "ODD"}, ("priority",)),
        (
            QueueCreate,
            {**QUEUE, "required_skills": {"billing": "ODD"}},
            ("required_skills", "billing"),
        ),
        (QueueUpdate, {"priority": "ODD"}, ("priority",)),
        (PolicyDraft, {**POLICY, "default_priority": "ODD"}, ("default_priority",)),
        (
            PolicyDraft,
            {**POLICY, "rules": [{**RULE, "priority": "ODD"}]},
            ("rules", 0, "priority"),
        ),
    ],
)
def test_numbers_in_bodies_are_json_integers_only(
    model: type[BaseModel], body: dict[str, Any], field: tuple[str | int, ...], odd: object
) -> None:
    strange = _replace(body, odd)
    with pytest.raises(ValidationError) as refused:
        model.model_validate(strange)
    assert [error["loc"] for error in refused.value.errors()] == [field]
    # The same body with a JSON integer is taken as it is.
    taken = model.model_validate(_replace(body, 3)).model_dump(mode="json")
    assert _at(taken, field) == 3


def _at(document: Any, field: tuple[str | int, ...]) -> Any:
    for part in field:
        document = document[part]
    return document


def _replace(value: Any, by: object) -> Any:
    if value == "ODD":
        return by
    if isinstance(value, dict):
        return {key: _replace(item, by) for key, item in value.items()}
    if isinstance(value, list):
        return [_replace(item, by) for item in value]
    return value
