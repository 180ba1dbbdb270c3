"""The API reference pages, /docs (Swagger UI) and /redoc, served with their own assets.

FastAPI's default pages load their scripts, styles, fonts and favicon from public CDNs, so
they stay blank on a network without them (an air-gapped install, a laptop offline). The
assets are vendored under `router/static/` (with their licences) and served by the router.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).with_name("static")
STATIC_PATH = "/static"
SWAGGER_JS = f"{STATIC_PATH}/swagger-ui/swagger-ui-bundle.js"
SWAGGER_CSS = f"{STATIC_PATH}/swagger-ui/swagger-ui.css"
REDOC_JS = f"{STATIC_PATH}/redoc/redoc.standalone.js"
FAVICON = f"{STATIC_PATH}/swagger-ui/favicon-32x32.png"


def install(app: FastAPI) -> None:
    """Serve /docs, /redoc and their assets under /static; the app must have docs_url=None."""
    openapi_url = app.openapi_url or "/openapi.json"
    title = f"{app.title} API"
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=title,
            swagger_js_url=SWAGGER_JS,
            swagger_css_url=SWAGGER_CSS,
            swagger_favicon_url=FAVICON,
            # Swagger UI would otherwise send the spec to a public validator for its badge.
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=title,
            redoc_js_url=REDOC_JS,
            redoc_favicon_url=FAVICON,
            with_google_fonts=False,
        )
