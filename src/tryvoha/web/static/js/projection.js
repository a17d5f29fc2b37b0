// Albers equal-area conic, spherical: the same formulas as tryvoha.geo.projection, fed the
// parameters the map layers carry. Map units, y pointing down.

const rad = (deg) => (deg * Math.PI) / 180;

export function forward(p, lon, lat) {
  const n = (Math.sin(rad(p.lat1)) + Math.sin(rad(p.lat2))) / 2;
  const c = Math.cos(rad(p.lat1)) ** 2 + 2 * n * Math.sin(rad(p.lat1));
  const rho = (phi) => (p.radius_km * Math.sqrt(c - 2 * n * Math.sin(phi))) / n;
  const theta = n * (rad(lon) - rad(p.lon0));
  const r = rho(rad(lat));
  const scale = 1000 / p.unit_m;
  return [r * Math.sin(theta) * scale, -(rho(rad(p.lat0)) - r * Math.cos(theta)) * scale];
}
