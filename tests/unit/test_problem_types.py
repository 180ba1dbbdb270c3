"""Every problem type the router answers with has a page at the URI its `type` names."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from html import escape
from urllib.parse import urljoin

import httpx
import pytest
from fastapi import FastAPI

import adapters
import router
from router.app import create_app
from router.errors import ProblemError
from router.problems.catalogue import HTTP_PROBLEMS, PROBLEM_TYPES
from router.settings import Settings

BASE = "http://router.test"


def _error_classes() -> Iterator[type[ProblemError]]:
    for package in (router, adapters):
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            importlib.import_module(module.name)
    seen: list[type[ProblemError]] = [ProblemError]
    while seen:
        kind = seen.pop()
        yield kind
        seen.extend(kind.__subclasses__())


def _client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url=BASE)


def test_every_error_class_has_its_problem_type_with_the_same_status_and_title() -> None:
    named = set()
    for kind in _error_classes():
        if "problem" not in vars(kind) and kind is not ProblemError:
            # A class that names no type of its own only gives its subclasses a shape.
            assert kind.__subclasses__(), f"{kind.__name__} names no problem type"
            continue
        entry = PROBLEM_TYPES.get(kind.problem)
        assert entry is not None, f"{kind.__name__}: no page for {kind.problem!r}"
        assert (entry.status, entry.title) == (kind.status, kind.title), kind.__name__
        named.add(kind.problem)
    # The rest come from the exception handlers: a request failing validation, an
    # unexpected error, and the errors of the web framework itself.
    handled = {"invalid-request", "internal", *HTTP_PROBLEMS.values()}
    assert named | handled == set(PROBLEM_TYPES), "a type nothing answers with has a page"


def test_the_framework_errors_have_problem_types_of_their_status() -> None:
    for status, problem in HTTP_PROBLEMS.items():
        assert PROBLEM_TYPES[problem].status == status


async def test_every_problem_type_has_a_page_without_outside_assets() -> None:
    async with _client(create_app(Settings())) as client:
        index = await client.get("/problems/")
        assert index.status_code == 200
        for name, problem in PROBLEM_TYPES.items():
            assert f'href="{name}"' in index.text
            page = await client.get(f"/problems/{name}")
            assert page.status_code == 200, name
            assert page.headers["content-type"].startswith("text/html")
            assert f"HTTP status {problem.status}" in page.text
            assert escape(problem.meaning) in page.text
            assert escape(problem.remedy) in page.text
            assert "http://" not in page.text
            assert "https://" not in page.text
        unknown = await client.get("/problems/no-such-thing")
    assert unknown.status_code == 404
    assert unknown.json()["type"] == "/problems/not-found"


@pytest.mark.parametrize(
    ("public_base_url", "prefix"),
    [
        (None, "/problems/"),
        ("https://router.example.com/support/", "https://router.example.com/support/problems/"),
    ],
)
async def test_problem_types_are_relative_or_on_the_public_base_url(
    public_base_url: str | None, prefix: str
) -> None:
    settings = Settings(public_base_url=public_base_url, api_max_body_bytes=1024)
    async with _client(create_app(settings)) as client:
        answers = {
            "unauthorized": await client.get("/v1/me"),
            "method-not-allowed": await client.delete("/v1/me"),
            "not-found": await client.get("/v1/nowhere"),
            "payload-too-large": await client.post("/v1/agents", content=b"{}" * 1024),
            "invalid-request": await client.post(
                "/v1/agents", content=b"{", headers={"Content-Type": "application/json"}
            ),
        }
        for problem, answer in answers.items():
            assert answer.headers["content-type"] == "application/problem+json", problem
            kind = answer.json()["type"]
            assert kind == prefix + problem
            # Relative: resolved against the request's URL. Absolute: the proxy maps the
            # public base URL to this app's root.
            served = urljoin(str(answer.url), kind) if public_base_url is None else problem
            page = await client.get(urljoin(BASE + "/problems/", served))
            assert page.status_code == 200, problem
            assert PROBLEM_TYPES[problem].title in page.text
