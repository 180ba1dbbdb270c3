"""/docs and /redoc work offline: every asset they load is served by the router itself."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from router.app import create_app
from router.settings import Settings

# src="…", href="…", Redoc's spec-url="…" and the url: '…' Swagger UI is given.
REFERENCE = re.compile(r"""(?:src|href|spec-url)\s*=\s*["']([^"']+)["']|url:\s*['"]([^'"]+)['"]""")


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    # The app's lifespan is not run: the pages and their assets need no database or transport.
    transport = httpx.ASGITransport(app=create_app(Settings()))
    async with httpx.AsyncClient(transport=transport, base_url="http://router.test") as client:
        yield client


def _references(html: str) -> list[str]:
    return [a or b for a, b in REFERENCE.findall(html)]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_page_references_only_local_urls_that_answer(
    client: httpx.AsyncClient, page: str
) -> None:
    response = await client.get(page)
    assert response.status_code == 200
    html = response.text
    assert "http://" not in html
    assert "https://" not in html
    references = _references(html)
    assert "/openapi.json" in references
    assert any(url.endswith(".js") for url in references)
    for url in references:
        assert url.startswith("/"), f"{page} loads {url} from elsewhere"
        assert not url.startswith("//"), f"{page} loads {url} from another host"
        assert (await client.get(url)).status_code == 200, url


async def test_assets_are_served_with_their_types_and_licences(client: httpx.AsyncClient) -> None:
    js = await client.get("/static/swagger-ui/swagger-ui-bundle.js")
    assert js.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    css = await client.get("/static/swagger-ui/swagger-ui.css")
    assert css.headers["content-type"].startswith("text/css")
    assert (await client.get("/static/redoc/redoc.standalone.js")).status_code == 200
    assert "MIT" in (await client.get("/static/redoc/LICENSE")).text
    assert "Apache" in (await client.get("/static/swagger-ui/LICENSE")).text


async def test_docs_pages_stay_out_of_the_openapi_spec(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert not any(path.startswith(("/docs", "/redoc", "/static")) for path in paths)
