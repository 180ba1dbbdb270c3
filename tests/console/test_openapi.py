"""The committed OpenAPI spec is the app's, with clean ids and problem+json errors."""

from __future__ import annotations

import re

from router.app import create_app
from router.errors import PROBLEM_JSON
from router.openapi import default_path, render
from router.settings import Settings


def test_committed_spec_matches_the_app() -> None:
    generated = render(create_app(Settings()).openapi())
    committed = default_path().read_text(encoding="utf-8")
    assert committed == generated, "openapi/openapi.json is stale: run `router openapi`"


def test_operation_ids_are_clean_and_errors_are_problems() -> None:
    document = create_app(Settings()).openapi()
    assert document["openapi"].startswith("3.1")
    ids = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            ids.append(operation["operationId"])
            assert re.fullmatch(r"[a-z][a-z0-9_]*", operation["operationId"]), (method, path)
            if not path.startswith("/v1/"):
                continue
            assert operation["security"] == [{"ApiKey": []}]
            assert "401" in operation["responses"], (method, path)
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    assert list(response["content"]) == [PROBLEM_JSON], (method, path, status)
                    schema = response["content"][PROBLEM_JSON]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Problem"}
    assert len(ids) == len(set(ids))
    assert "HTTPValidationError" not in document["components"]["schemas"]
