"""`/v1` answers are counted and timed by route template, method and status class."""

from __future__ import annotations

import uuid

import httpx
from prometheus_client import REGISTRY

from router.app import create_app
from router.settings import Settings

METRIC = "router_api_request_seconds"


def _counted(route: str, method: str, status: str) -> float:
    labels = {"route": route, "method": method, "status": status}
    return REGISTRY.get_sample_value(f"{METRIC}_count", labels) or 0.0


def _routes_counted() -> set[str]:
    return {
        sample.labels["route"]
        for metric in REGISTRY.collect()
        if metric.name == METRIC
        for sample in metric.samples
    }


async def test_api_answers_are_counted_by_route_template_method_and_status_class() -> None:
    conversation = uuid.uuid4()
    notes = "/v1/conversations/{conversation_id}/notes"
    expected = [
        (notes, "POST", "4xx", 2),
        ("/v1/me", "GET", "4xx", 1),
        ("/v1/me", "DELETE", "4xx", 1),
        ("unmatched", "GET", "4xx", 1),
        ("unmatched", "other", "4xx", 1),
    ]
    before = {key[:3]: _counted(*key[:3]) for key in expected}
    app = create_app(Settings())
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://router.test") as client:
        broken = {"Content-Type": "application/json"}
        await client.post(f"/v1/conversations/{conversation}/notes", content=b"{", headers=broken)
        await client.post(f"/v1/conversations/{uuid.uuid4()}/notes", content=b"[", headers=broken)
        await client.get("/v1/me")  # no credentials: 401
        await client.delete("/v1/me")  # 405
        await client.get(f"/v1/nowhere/{conversation}")  # 404, no route
        await client.request("BREW", "/v1/me/coffee")  # no such method either
        await client.get("/healthz")  # not the /v1 API

    for route, method, status, times in expected:
        assert _counted(route, method, status) == before[(route, method, status)] + times, route
    routes = _routes_counted()
    assert not any(str(conversation) in route for route in routes), "a raw path is a label"
    assert "/healthz" not in routes
    bucket = REGISTRY.get_sample_value(
        f"{METRIC}_bucket", {"route": notes, "method": "POST", "status": "4xx", "le": "60.0"}
    )
    assert bucket is not None
    assert bucket >= 2
