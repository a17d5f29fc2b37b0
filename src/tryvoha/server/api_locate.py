"""GET /api/v1/locate: the hromada, raion and oblast that hold a point."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.responses import Response

from tryvoha.domain.regions import Region
from tryvoha.geo.locate import shared_locator
from tryvoha.server.api_v1 import json_response
from tryvoha.server.problems import Problem

router = APIRouter(prefix="/api/v1")

# Boundaries change only with the package: answers may be cached for a day.
CACHE_CONTROL = "public, max-age=86400"


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
    found = (await shared_locator()).locate(lon, lat)
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
