"""The OpenAPI document: problem+json errors everywhere, and `router openapi` to write it.

`router openapi` writes `openapi/openapi.json`; a test fails when that committed file differs
from what the app generates. The app is built by the caller (the composition root), so the
endpoints can use `problems` without this module reaching back into the app.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from router.errors import PROBLEM_JSON

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An RFC 9457 problem document.",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {
            "type": "string",
            "description": (
                "A URI reference naming the kind of problem (`/problems/<type>`, or absolute on"
                " ROUTER_PUBLIC_BASE_URL); GET it for a page saying what it means and what to do"
            ),
        },
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "Every invalid field or rule, when there are several",
            "items": {},
        },
    },
    "additionalProperties": True,
}

_DESCRIPTIONS = {
    401: "No valid API key or identity provider token came with the request",
    403: "The caller's role, or their relation to the resource, does not allow this",
    404: "No such resource, or not one the caller may see",
    409: "The resource's current state does not allow this",
    413: "The request body is over the limit",
    422: "The request is invalid (every problem listed; `body` when it is not JSON at all)",
    429: "Too many requests from this caller (see Retry-After)",
    503: "A part this needs is not configured or not available",
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries declaring these error statuses as problem+json documents."""
    return {
        status: {
            "description": _DESCRIPTIONS.get(status, "Error"),
            "content": {PROBLEM_JSON: {"schema": PROBLEM_REF}},
        }
        for status in statuses
    }


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document, with the Problem schema and problem+json validation errors."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    document = get_openapi(
        title=app.title,
        version=app.version,
        summary=app.summary,
        description=app.description,
        routes=app.routes,
        webhooks=app.webhooks.routes,
    )
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    for route, path in document.get("paths", {}).items():
        for operation in path.values():
            if route.startswith("/v1/"):
                # The body limit (router.console.limits.BodyLimit) answers before the route;
                # with JWT login on, an unreachable identity provider answers 503, and so does
                # every route while the database is out of reach.
                added = (413, 503) if "requestBody" in operation else (503,)
                operation["responses"].update(
                    {str(status): doc for status, doc in problems(*added).items()}
                )
                operation["responses"] = dict(sorted(operation["responses"].items()))
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                # FastAPI's own 422 says application/json; the handler answers problem+json.
                if status == "422" and PROBLEM_JSON not in content:
                    response["content"] = {PROBLEM_JSON: {"schema": PROBLEM_REF}}
                    response["description"] = _DESCRIPTIONS[422]
    for hook in document.get("webhooks", {}).values():
        for operation in hook.values():
            # What the router sends to others: FastAPI's 422 would be the receiver's answer.
            operation["responses"].pop("422", None)
            operation["responses"] = dict(sorted(operation["responses"].items()))
    # Unused once every 422 points at Problem.
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    app.openapi_schema = document
    return document


def default_path() -> Path:
    return Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"


def render(document: dict[str, Any]) -> str:
    """The spec as committed: stable key order, two-space indent, final newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def write_spec(document: dict[str, Any], output: str | None = None) -> Path:
    """Write the spec to `output` (default `openapi/openapi.json`); returns the path."""
    path = Path(output) if output else default_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(document), encoding="utf-8")
    return path
