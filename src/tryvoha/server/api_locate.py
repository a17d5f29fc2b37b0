"""GET /api/v1/locate: the hromada, raion and oblast that hold a point."""

from __future__ import annotations

import asyncio
import threading
from functools import cache
from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.responses import Response

from tryvoha.data import region_tree
from tryvoha.domain.regions import Region
from tryvoha.geo.layers import locate_cells
from tryvoha.geo.locate import Locator
from tryvoha.server.api_v1 import json_response
from tryvoha.server.problems import Problem

router = APIRouter(prefix="/api/v1")

# Boundaries change only with the package: answers may be cached for a day.
CACHE_CONTROL = "public, max-age=86400"

_loading = threading.Lock()


@cache
def _load() -> Locator:
    return Locator(locate_cells(), region_tree())


def _locator() -> Locator:
    with _loading:  # one load, however many requests arrive while it runs
        return _load()


async def locator() -> Locator:
    """Loaded on first use (about a second, off the event loop), then kept."""
    if _load.cache_info().currsize:
        return _load()
    return await asyncio.to_thread(_locator)


def region_json(region: Region | None) -> dict[str, Any] | None:
    if region is None:
        return None
    return {
        "id": region.id,
        "level": region.level.value,
        "name_uk": region.name_uk,
        "name_en": region.name_en,
    }


@router.get(
    "/locate",
    summary="The hromada, raion and oblast that contain a point (WGS 84 degrees)",
    responses={404: {"description": "the point is outside the country (problem+json)"}},
)
async def locate(
    lat: Annotated[float, Query(ge=-90, le=90, description="latitude, degrees north")],
    lon: Annotated[float, Query(ge=-180, le=180, description="longitude, degrees east")],
) -> Response:
    found = (await locator()).locate(lon, lat)
    if found is None:
        raise Problem(
            "outside_country",
            f"the point {lat:.5f}, {lon:.5f} is not inside any region's boundary",
            lat=lat,
            lon=lon,
        )
    body = {
        "lat": lat,
        "lon": lon,
        "region_id": found.most_specific.id,
        "hromada": region_json(found.hromada),
        "raion": region_json(found.raion),
        "oblast": region_json(found.oblast),
        "approximate": found.approximate,
    }
    return json_response(body, headers={"Cache-Control": CACHE_CONTROL})
