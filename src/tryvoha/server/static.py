"""Static files, the region index and the map layers, from memory, gzip when asked.

A request that names the current version (?v=<hash>, as the pages link them) may be kept
for a year; any other is revalidated with its ETag.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated

import orjson
from fastapi import APIRouter, Header, Query, Request
from starlette.responses import Response

from tryvoha.data import region_tree
from tryvoha.domain.errors import DomainError
from tryvoha.domain.regions import Level, RegionId
from tryvoha.geo.layers import MAP_LEVELS, map_layer
from tryvoha.server.answers import etag_matches
from tryvoha.server.negotiation import accepts_gzip
from tryvoha.server.problems import Problem
from tryvoha.web import names
from tryvoha.web.assets import Asset
from tryvoha.web.render import Renderer

router = APIRouter(include_in_schema=False)

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "public, no-cache"


@cache
def renderer() -> Renderer:
    """Templates and static files: the same for every app in the process."""
    return Renderer()


@cache
def region_index() -> Asset:
    return Asset.of(names.index_json(), "application/json")


@cache
def layer_asset(level: Level, oblast: RegionId | None) -> Asset:
    layer = map_layer(level).to_json()
    if oblast is not None:
        tree = region_tree()
        layer["shapes"] = [s for s in layer["shapes"] if tree.oblast_of(s["id"]) == oblast]
        layer["markers"] = [m for m in layer["markers"] if m["id"] == oblast]
        layer["oblast"] = oblast
    return Asset.of(orjson.dumps(layer), "application/json")


def layer_url(level: Level, oblast: RegionId | None = None) -> str:
    asset = layer_asset(level, oblast)
    query = f"oblast={oblast}&" if oblast else ""
    return f"/map/layers/{level.value}.json?{query}v={asset.version}"


def region_index_url() -> str:
    return f"/map/regions.json?v={region_index().version}"


def send(
    asset: Asset, version: str | None, if_none_match: str | None, accept_encoding: str | None
) -> Response:
    headers = {
        "ETag": asset.etag,
        "Cache-Control": IMMUTABLE if version == asset.version else REVALIDATE,
        "Vary": "Accept-Encoding",
        "X-Content-Type-Options": "nosniff",
    }
    if etag_matches(if_none_match, asset.etag):
        return Response(status_code=304, headers=headers)
    if asset.gzipped is not None and accepts_gzip(accept_encoding):
        headers["Content-Encoding"] = "gzip"
        return Response(asset.gzipped, headers=headers, media_type=asset.content_type)
    return Response(asset.body, headers=headers, media_type=asset.content_type)


@router.get("/static/{path:path}")
async def static_file(
    path: str,
    v: str | None = None,
    if_none_match: Annotated[str | None, Header()] = None,
    accept_encoding: Annotated[str | None, Header()] = None,
) -> Response:
    asset = renderer().static.get(path)
    if asset is None:
        raise Problem("not_found", f"nothing at /static/{path}")
    return send(asset, v, if_none_match, accept_encoding)


# The service worker's own policy: it fetches only from this site, runs no inline code.
WORKER_CSP = "default-src 'self'; script-src 'self'; connect-src 'self'; object-src 'none'"


@router.get("/sw.js")
async def service_worker(
    if_none_match: Annotated[str | None, Header()] = None,
    accept_encoding: Annotated[str | None, Header()] = None,
) -> Response:
    """The service worker (Web Push), at the root so that its scope is every page;
    revalidated on every check, so a new version reaches browsers at once."""
    asset = renderer().static.get("sw.js")
    assert asset is not None
    response = send(asset, None, if_none_match, accept_encoding)
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Service-Worker-Allowed"] = "/"
    response.headers["Content-Security-Policy"] = WORKER_CSP
    return response


@router.get("/map/regions.json")
async def regions_index(
    v: str | None = None,
    if_none_match: Annotated[str | None, Header()] = None,
    accept_encoding: Annotated[str | None, Header()] = None,
) -> Response:
    return send(region_index(), v, if_none_match, accept_encoding)


@router.get("/map/layers/{level}.json")
async def layer(
    request: Request,
    level: str,
    oblast: Annotated[str | None, Query(max_length=64)] = None,
    v: str | None = None,
    if_none_match: Annotated[str | None, Header()] = None,
    accept_encoding: Annotated[str | None, Header()] = None,
) -> Response:
    if level not in {lvl.value for lvl in MAP_LEVELS}:
        raise Problem("not_found", f"no map layer '{level}': oblast, raion or hromada")
    oblast_id = None
    if oblast is not None:
        tree = region_tree()
        try:
            region = tree.get(oblast)
        except DomainError:
            raise Problem("invalid_parameter", f"oblast: '{oblast}' is not a region id") from None
        if region.level is not Level.OBLAST:
            raise Problem("invalid_parameter", f"oblast: '{oblast}' is a {region.level.value}")
        oblast_id = region.id
    return send(layer_asset(Level(level), oblast_id), v, if_none_match, accept_encoding)
