"""The API's interactive documentation at /api/v1/docs, from a packaged copy of Swagger UI
(the `fastapi-swagger` package carries its files): a self-hosted system may have no
internet, and no page of ours loads a script from elsewhere or runs one inline (the same
Content-Security-Policy as every page)."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Annotated

from fastapi import APIRouter, Header
from starlette.responses import Response

from tryvoha.server.problems import Problem
from tryvoha.server.static import send
from tryvoha.web.assets import Asset

router = APIRouter()

OPENAPI_URL = "/api/v1/openapi.json"
CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
START = f"""window.addEventListener("load", () => {{
  window.ui = SwaggerUIBundle({{ url: "{OPENAPI_URL}", dom_id: "#docs", deepLinking: true }});
}});
""".encode()


@cache
def assets() -> dict[str, Asset]:
    packaged = resources.files("fastapi_swagger.resources")
    return {
        "swagger-ui-bundle.js": Asset.of(
            (packaged / "swagger-ui-bundle.js").read_bytes(), "text/javascript; charset=utf-8"
        ),
        "swagger-ui.css": Asset.of(
            (packaged / "swagger-ui.css").read_bytes(), "text/css; charset=utf-8"
        ),
        "start.js": Asset.of(START, "text/javascript; charset=utf-8"),
    }


@cache
def page() -> bytes:
    found = assets()
    links = {name: f"/api/v1/docs/{name}?v={asset.version}" for name, asset in found.items()}
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tryvoha API v1</title>
<link rel="stylesheet" href="{links["swagger-ui.css"]}">
</head>
<body>
<div id="docs"></div>
<script src="{links["swagger-ui-bundle.js"]}"></script>
<script src="{links["start.js"]}"></script>
</body>
</html>
""".encode()


HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",
}


@router.get("/api/v1/docs", include_in_schema=False)
async def docs() -> Response:
    return Response(page(), headers=HEADERS, media_type="text/html")


@router.get("/api/v1/docs/{name}", include_in_schema=False)
async def docs_asset(
    name: str,
    v: str | None = None,
    if_none_match: Annotated[str | None, Header()] = None,
    accept_encoding: Annotated[str | None, Header()] = None,
) -> Response:
    asset = assets().get(name)
    if asset is None:
        raise Problem("not_found", f"nothing at /api/v1/docs/{name[:60]}")
    return send(asset, v, if_none_match, accept_encoding)
