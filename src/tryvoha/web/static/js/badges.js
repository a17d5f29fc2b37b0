// The map's badges: where a colour cannot say it all (two threat types, or what is
// coming), a mark at the name of the region the alerts are on (or of the nearest region
// above it whose name the map knows): a dot per threat type, an icon per threat kind. The
// marks keep their size on screen whatever the zoom.

import { kindsOf } from "./alerts.js";
import { THREAT_ORDER } from "./state.js";

const SVG_NS = "http://www.w3.org/2000/svg";
const BADGE_PX = 14; // one cell on screen

function make(tag, attrs) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

function badge(id, [x, y], types, kinds) {
  const g = make("g", { class: "badge" });
  Object.assign(g.dataset, { regionId: id, x, y });
  const width = (types.length + kinds.length) * BADGE_PX + 4;
  g.append(make("rect", { class: "badge-back", x: -width / 2, y: 0, width, height: BADGE_PX + 2, rx: 4 }));
  let cx = -width / 2 + 2;
  for (const threat of types) {
    const dot = make("circle", { class: "badge-type", cx: cx + BADGE_PX / 2, cy: 1 + BADGE_PX / 2, r: BADGE_PX / 2 - 2 });
    dot.dataset.threat = threat;
    g.append(dot);
    cx += BADGE_PX;
  }
  for (const kind of kinds) {
    const use = make("use", { href: `#i-${kind}`, class: "badge-kind", x: cx + 1, y: 2, width: BADGE_PX - 2, height: BADGE_PX - 2 });
    use.dataset.kind = kind;
    g.append(use);
    cx += BADGE_PX;
  }
  return g;
}

export function drawBadges(layer, colouring, regions, labelAt, perPx, belowPx) {
  const groups = new Map();
  for (const [rid, alerts] of colouring.on) {
    const anchor = [rid, ...regions.ancestors(rid)].find((r) => labelAt.has(r));
    if (!anchor) continue;
    if (!groups.has(anchor)) groups.set(anchor, []);
    groups.get(anchor).push(...alerts);
  }
  const drawn = [];
  for (const [anchor, alerts] of groups) {
    const types = THREAT_ORDER.filter((th) => alerts.some((a) => a.threat === th));
    const kinds = kindsOf(alerts);
    if (types.length < 2 && !kinds.length) continue;
    drawn.push(badge(anchor, labelAt.get(anchor), types, kinds));
  }
  layer.replaceChildren(...drawn);
  scaleBadges(layer, perPx, belowPx);
}

// belowPx: how far under the region's name, in screen pixels
export function scaleBadges(layer, perPx, belowPx) {
  for (const g of layer.children) {
    const y = Number(g.dataset.y) + belowPx * perPx;
    g.setAttribute("transform", `translate(${g.dataset.x} ${y.toFixed(1)}) scale(${perPx.toFixed(3)})`);
  }
}
