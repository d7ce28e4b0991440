"""Swagger UI pages that work without internet, and the redirects that lead to them.

FastAPI's default docs page loads Swagger UI from a CDN. The assets shipped by the
``fastapi-offline`` package are served from the app itself instead, relative to the
request's ``root_path`` so the same page works mounted or standalone.
"""

from collections.abc import Sequence
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

SWAGGER_ASSETS = Path(fastapi_offline.__file__).parent / "static"


def add_offline_docs(
    app: FastAPI, *, docs_path: str, openapi_path: str, title: str
) -> None:
    """Serve Swagger UI for ``openapi_path`` at ``docs_path`` with local assets."""
    assets_path = f"{docs_path}-assets"
    app.mount(assets_path, StaticFiles(directory=SWAGGER_ASSETS), name=assets_path)

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=f"{root}{openapi_path}",
            title=f"{title} - Swagger UI",
            swagger_js_url=f"{root}{assets_path}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{assets_path}/swagger-ui.css",
            swagger_favicon_url=f"{root}{assets_path}/favicon.png",
        )

    app.add_api_route(docs_path, swagger_ui, include_in_schema=False)


def add_docs_redirect(app: FastAPI, *, paths: Sequence[str], docs_path: str) -> None:
    """Send a browser that opens one of ``paths`` to the docs page at ``docs_path``.

    A 307 to the page relative to the request's ``root_path``, so a bare host
    (``/``) or an API prefix (``/api/v1/``) is never a blank 404.
    """

    async def to_docs(request: Request) -> RedirectResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return RedirectResponse(f"{root}{docs_path}", status_code=307)

    for path in paths:
        app.add_api_route(
            path, to_docs, methods=["GET", "HEAD"], include_in_schema=False
        )
