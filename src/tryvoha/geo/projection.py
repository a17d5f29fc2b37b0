"""Albers equal-area conic projection (spherical), in map units with y pointing down.

The map is a choropleth: colour spread over area. An equal-area projection keeps each
region's share of the picture honest. With standard parallels at one sixth and five
sixths of Ukraine's span (44.4–52.4 °N) the scale error stays under 0.5 % across the
country; the spherical form differs from the ellipsoidal one by less than a pixel.

The same formulas run in the browser (static/js/projection.js), fed the parameters that
the map layers carry, to place "you are here" on the map.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import NDArray

EARTH_RADIUS_KM = 6371.0088  # IUGG mean radius


@dataclass(frozen=True, slots=True)
class Albers:
    lon0: float  # central meridian, degrees
    lat0: float  # latitude of the origin
    lat1: float  # standard parallels
    lat2: float
    unit_m: float = 100.0  # one map unit, in metres

    @property
    def _n(self) -> float:
        return (math.sin(math.radians(self.lat1)) + math.sin(math.radians(self.lat2))) / 2

    @property
    def _c(self) -> float:
        phi1 = math.radians(self.lat1)
        return math.cos(phi1) ** 2 + 2 * self._n * math.sin(phi1)

    @property
    def _scale(self) -> float:
        """Kilometres to map units."""
        return 1000.0 / self.unit_m

    def _rho(self, lat_rad: NDArray[np.float64] | float) -> NDArray[np.float64]:
        return np.asarray(
            EARTH_RADIUS_KM * np.sqrt(self._c - 2 * self._n * np.sin(lat_rad)) / self._n
        )

    def forward(self, lonlat: NDArray[np.float64]) -> NDArray[np.float64]:
        """(N, 2) lon/lat degrees to (N, 2) map units, x east, y south (as SVG draws)."""
        lon = np.radians(lonlat[:, 0])
        lat = np.radians(lonlat[:, 1])
        rho = self._rho(lat)
        rho0 = self._rho(math.radians(self.lat0))
        theta = self._n * (lon - math.radians(self.lon0))
        x = rho * np.sin(theta)
        y = rho0 - rho * np.cos(theta)
        return np.column_stack([x * self._scale, -y * self._scale])

    def inverse(self, xy: NDArray[np.float64]) -> NDArray[np.float64]:
        """(N, 2) map units back to lon/lat degrees."""
        x = xy[:, 0] / self._scale
        y = -xy[:, 1] / self._scale
        rho0 = float(self._rho(math.radians(self.lat0)))
        dy = rho0 - y
        rho = np.sign(self._n) * np.hypot(x, dy)
        theta = np.arctan2(x, dy)
        sin_lat = (self._c - (rho * self._n / EARTH_RADIUS_KM) ** 2) / (2 * self._n)
        lat = np.degrees(np.arcsin(np.clip(sin_lat, -1.0, 1.0)))
        lon = self.lon0 + np.degrees(theta / self._n)
        return np.column_stack([lon, lat])

    def point(self, lon: float, lat: float) -> tuple[float, float]:
        x, y = self.forward(np.array([[lon, lat]], dtype=np.float64))[0]
        return float(x), float(y)

    def describe(self) -> dict[str, float | str]:
        """The parameters, as the map layers carry them for the browser."""
        return {"name": "albers", "radius_km": EARTH_RADIUS_KM, **asdict(self)}


# Ukraine spans 22.1–40.2 °E and 44.4–52.4 °N.
UKRAINE = Albers(lon0=31.2, lat0=48.4, lat1=45.7, lat2=51.05)
