// The SVG map: layers of region shapes, coloured from a Colouring; zoom and pan by wheel,
// drag, pinch, buttons and keys; one shape in the tab order at a time (arrow keys move
// between neighbours, Enter picks). The oblast layer comes in the page's HTML; raions and
// hromadas are fetched when someone zooms in, picks the level, or picks an oblast.
// Zoomed in, the oblasts' borders and names stay on top, the picked region is outlined
// and named, and badges show every threat type and kind where more than a colour can say.

import { drawBadges, scaleBadges } from "./badges.js";
import { shortOf } from "./i18n.js";
import { forward } from "./projection.js";
import { lookData } from "./state.js";

const SVG_NS = "http://www.w3.org/2000/svg";
const LEVEL_RANK = { oblast: 0, raion: 1, hromada: 2 };
const LEVEL_AT_ZOOM = [[7, "hromada"], [3, "raion"], [0, "oblast"]]; // zoom factor -> at least this level
const ZOOM_LIMIT = { oblast: 2.9, raion: 6.9, hromada: Infinity }; // the most zoom a chosen level allows
const MAX_ZOOM = 40;
const LABEL_PX = 12;
const LABELS_MIN_PX_PER_UNIT = 1 / 22; // names only where they fit
const reducedMotion = matchMedia("(prefers-reduced-motion: reduce)");
export const LEVEL_CONTROL = "map-level"; // the radios' name: a form on the same page may have its own "level"

export class MapView {
  constructor(frame, { regions, urls, onPick, describe, shapeAttrs = null, pickZoom = true, outline = true }) {
    this.frame = frame;
    this.svg = frame.querySelector("svg");
    this.base = this.svg.querySelector("#layer-base");
    this.detail = this.svg.querySelector("#layer-detail");
    this.labels = this.svg.querySelector("#labels");
    this.selection = this.svg.querySelector("#selection");
    this.you = this.svg.querySelector("#you");
    this.borders = this.svg.querySelector("#oblast-borders");
    this.badges = this.svg.querySelector("#badges");
    this.regions = regions;
    this.urls = urls;
    this.onPick = onPick;
    this.describe = describe; // (id, look) -> text for assistive tools and the tooltip
    this.shapeAttrs = shapeAttrs; // (id) -> extra data- attributes (the console marks scope)
    this.pickZoom = pickZoom; // the console picks many regions: it does not zoom to each
    this.outline = outline; // the console marks its picks itself: no outline, no name
    this.home = this.svg.dataset.viewBox.split(" ").map(Number);
    this.view = [...this.home];
    this.level = "oblast";
    this.chosen = "oblast";
    this.detailOblast = null;
    this.picked = null;
    this.colouring = null;
    this.layers = new Map();
    this.oblastNodes = [...this.base.children];
    this.labelAt = new Map(); // region id -> [x, y] where its name or badge goes
    for (const text of this.labels.querySelectorAll("text")) {
      this.labelAt.set(text.dataset.regionId, [Number(text.getAttribute("x")), Number(text.getAttribute("y"))]);
    }
    for (const node of this.oblastNodes) {
      if (node.tagName === "circle") this.labelAt.set(node.dataset.regionId, [Number(node.getAttribute("cx")), Number(node.getAttribute("cy"))]);
    }
    this.borders?.replaceChildren(
      ...this.oblastNodes.filter((n) => n.tagName === "path").map((n) => {
        const line = document.createElementNS(SVG_NS, "path");
        line.setAttribute("d", n.getAttribute("d"));
        return line;
      }),
    );
    this.projection = null;
    this.bind();
    this.refreshScale();
  }

  // -- layers --------------------------------------------------------------------------

  fetchLayer(url) {
    if (!this.layers.has(url)) {
      this.layers.set(url, fetch(url).then((r) => {
        if (!r.ok) throw new Error(`map layer: HTTP ${r.status}`);
        return r.json();
      }));
    }
    return this.layers.get(url);
  }

  makeShape(shape) {
    const path = document.createElementNS(SVG_NS, "path");
    path.setAttribute("d", shape.d);
    path.dataset.regionId = shape.id;
    path.setAttribute("tabindex", "-1");
    path.setAttribute("role", "button");
    this.labelAt.set(shape.id, shape.label);
    return path;
  }

  async setLevel(level, { chosen = false } = {}) {
    if (chosen) {
      this.chosen = level;
      if (this.zoom() > ZOOM_LIMIT[level]) {
        // the map obeys: zoom out until the zoom no longer asks for a finer level
        this.zoomAround(ZOOM_LIMIT[level] / this.zoom(), this.centre());
        return;
      }
    }
    const effective = this.effectiveLevel();
    if (effective === this.level) return this.syncLevelControl();
    this.level = effective;
    this.svg.dataset.level = effective;
    this.syncLevelControl();
    let nodes;
    if (effective === "oblast") {
      nodes = this.oblastNodes;
    } else {
      const layer = await this.fetchLayer(this.urls.layers[effective]);
      this.projection ||= layer.projection;
      if (this.level !== effective) return; // changed again while loading
      nodes = [...layer.shapes.map((s) => this.makeShape(s)), ...this.oblastNodes.filter((n) => n.tagName === "circle")];
    }
    const focusWasHere = this.hasFocus();
    this.base.replaceChildren(...nodes);
    if (effective !== "oblast") this.clearDetail();
    this.fixTabStop();
    this.repaint();
    this.drawSelection();
    if (focusWasHere && !this.hasFocus()) this.restoreFocus();
  }

  // -- focus: a shape that held it may be replaced by a finer layer ------------------

  hasFocus() {
    const active = document.activeElement;
    return !!active && active !== this.svg && this.svg.contains(active);
  }

  // The picked region's shape, else a shape inside it, else the tab stop.
  restoreFocus() {
    const shapes = this.shapes();
    const target =
      shapes.find((n) => n.dataset.regionId === this.picked) ||
      (this.picked && shapes.find((n) => this.regions.isWithin(n.dataset.regionId, this.picked))) ||
      shapes.find((n) => n.getAttribute("tabindex") === "0") ||
      shapes[0];
    if (!target) return;
    this.fixTabStop(target);
    target.focus({ preventScroll: true });
  }

  impliedLevel() {
    const zoom = this.zoom();
    return LEVEL_AT_ZOOM.find(([z]) => zoom >= z)[1];
  }

  effectiveLevel() {
    const implied = this.impliedLevel();
    return LEVEL_RANK[implied] > LEVEL_RANK[this.chosen] ? implied : this.chosen;
  }

  syncLevelControl() {
    const radio = this.frame.parentElement.querySelector(`input[name="${LEVEL_CONTROL}"][value="${this.level}"]`);
    if (radio) radio.checked = true;
  }

  async showDetail(oblastId) {
    if (this.detailOblast === oblastId) return;
    this.detailOblast = oblastId;
    const url = this.urls.hromadas?.[oblastId];
    if (!url) return this.detail.replaceChildren();
    const layer = await this.fetchLayer(url);
    if (this.detailOblast !== oblastId || this.level !== "oblast") return;
    this.detail.replaceChildren(...layer.shapes.map((s) => this.makeShape(s)));
    this.repaint();
    this.drawSelection();
  }

  clearDetail() {
    const focusWasHere = this.hasFocus();
    this.detailOblast = null;
    this.detail.replaceChildren();
    if (focusWasHere && !this.hasFocus()) this.restoreFocus();
  }

  shapes() {
    return [...this.base.children, ...this.detail.children];
  }

  // -- colour --------------------------------------------------------------------------

  paint(colouring) {
    this.colouring = colouring;
    this.repaint();
  }

  repaint() {
    if (!this.colouring) return;
    for (const node of this.shapes()) {
      const id = node.dataset.regionId;
      const look = this.colouring.of(id);
      for (const [key, value] of Object.entries(lookData(look))) {
        if (node.dataset[key] !== value) node.dataset[key] = value;
      }
      if (this.shapeAttrs) Object.assign(node.dataset, this.shapeAttrs(id));
      node.setAttribute("aria-label", this.describe(id, look, this.colouring.alertsFor(id)));
    }
    this.drawBadges();
  }

  drawBadges() {
    if (this.badges) drawBadges(this.badges, this.colouring, this.regions, this.labelAt, this.perPx(), LABEL_PX * 0.8);
  }

  scaleBadges(view = this.view) {
    if (this.badges) scaleBadges(this.badges, this.perPx(view), LABEL_PX * 0.8);
  }

  // -- picking -------------------------------------------------------------------------

  async pick(id, { zoom = true, announce = true } = {}) {
    if (!this.outline) {
      if (announce) this.onPick?.(id);
      return;
    }
    this.picked = id;
    const region = this.regions.get(id);
    if (region && region.level !== "country" && this.level === "oblast") {
      // the oblast's hromadas over it: the picked one has a shape to outline
      const shown = this.showDetail(this.regions.oblastOf(id));
      if (region.level !== "oblast") await shown;
    }
    if (zoom && region) {
      const box = await this.boxOf(id);
      if (box) this.zoomToBox(box);
    }
    this.drawSelection();
    if (announce) this.onPick?.(id);
  }

  unpick() {
    this.picked = null;
    this.clearDetail();
    this.drawSelection();
  }

  async boxOf(id) {
    const node = this.shapes().find((n) => n.dataset.regionId === id);
    if (node && node.getBBox) {
      const b = node.getBBox();
      if (b.width || b.height) return [b.x, b.y, b.x + b.width, b.y + b.height];
    }
    // not drawn at this level: the region above it that is
    for (const above of this.regions.ancestors(id)) {
      const n = this.shapes().find((s) => s.dataset.regionId === above);
      if (n) return this.boxOf(above);
    }
    return null;
  }

  // The picked region outlined, with its name, whatever level is drawn.
  drawSelection() {
    this.selection.replaceChildren();
    if (!this.picked) return;
    const node = this.shapes().find((n) => n.dataset.regionId === this.picked);
    if (node) {
      const copy = document.createElementNS(SVG_NS, node.tagName);
      for (const attr of ["d", "cx", "cy", "r"]) if (node.hasAttribute(attr)) copy.setAttribute(attr, node.getAttribute(attr));
      copy.setAttribute("class", "selected-outline");
      this.selection.append(copy);
    }
    const at = this.labelAt.get(this.picked) || this.centreOf(node);
    if (!at) return;
    const name = document.createElementNS(SVG_NS, "text");
    name.setAttribute("class", "selected-name");
    name.setAttribute("x", String(at[0]));
    name.setAttribute("y", String(at[1]));
    name.textContent = shortOf(this.regions.get(this.picked));
    this.selection.append(name);
    this.refreshScale();
  }

  centreOf(node) {
    if (!node?.getBBox) return null;
    const b = node.getBBox();
    return b.width || b.height ? [b.x + b.width / 2, b.y + b.height / 2] : null;
  }

  // "You are here", from lon/lat.
  async showYou(lon, lat) {
    if (!this.projection) this.projection = (await this.fetchLayer(this.urls.layers.raion)).projection;
    this.youAt = forward(this.projection, lon, lat);
    this.you.removeAttribute("hidden"); // an SVG element has no .hidden property
    this.refreshScale();
  }

  // -- zoom and pan --------------------------------------------------------------------

  zoom() { return this.home[2] / this.view[2]; }

  centre() { return [this.view[0] + this.view[2] / 2, this.view[1] + this.view[3] / 2]; }

  setView(view, animate = true) {
    const zoom = this.home[2] / view[2];
    if (zoom > MAX_ZOOM) {
      const [cx, cy] = [view[0] + view[2] / 2, view[1] + view[3] / 2];
      const w = this.home[2] / MAX_ZOOM;
      const h = (view[3] / view[2]) * w;
      view = [cx - w / 2, cy - h / 2, w, h];
    }
    if (view[2] > this.home[2]) view = [...this.home];
    const from = [...this.view];
    const to = view;
    this.view = to;
    cancelAnimationFrame(this.animation);
    if (!animate || reducedMotion.matches) {
      this.applyView(to);
    } else {
      const start = performance.now();
      const step = (now) => {
        const k = Math.min((now - start) / 220, 1);
        const e = 1 - (1 - k) ** 3;
        this.applyView(from.map((v, i) => v + (to[i] - v) * e));
        if (k < 1) this.animation = requestAnimationFrame(step);
      };
      this.animation = requestAnimationFrame(step);
    }
    this.setLevel(this.effectiveLevel());
  }

  applyView(view) {
    this.svg.setAttribute("viewBox", view.map((v) => v.toFixed(1)).join(" "));
    this.refreshScale(view);
  }

  perPx(view = this.view) {
    const width = this.svg.clientWidth || 800;
    const height = this.svg.clientHeight || 600;
    return Math.max(view[2] / width, view[3] / height);
  }

  // Map units per screen pixel; stripes, names and badges keep their size on screen.
  refreshScale(view = this.view) {
    const perPx = this.perPx(view);
    for (const p of this.svg.querySelectorAll("pattern.hatch")) {
      p.setAttribute("width", (8 * perPx).toFixed(2));
      p.setAttribute("height", (8 * perPx).toFixed(2));
      p.firstElementChild.setAttribute("width", (8 * perPx).toFixed(2));
      p.firstElementChild.setAttribute("height", (8 * perPx).toFixed(2));
      p.lastElementChild.setAttribute("width", (3.5 * perPx).toFixed(2));
      p.lastElementChild.setAttribute("height", (8 * perPx).toFixed(2));
    }
    this.labels.style.fontSize = `${(LABEL_PX * perPx).toFixed(1)}px`;
    this.selection.style.fontSize = `${(LABEL_PX * 1.15 * perPx).toFixed(1)}px`;
    this.labels.classList.toggle("labels-off", 1 / perPx < LABELS_MIN_PX_PER_UNIT);
    this.scaleBadges(view);
    if (this.youAt) {
      const [x, y] = this.youAt;
      this.you.setAttribute("transform", `translate(${x.toFixed(1)} ${y.toFixed(1)}) scale(${(perPx / 12).toFixed(3)})`);
    }
    this.svg.classList.toggle("zoomed", this.zoom() > 1.01);
  }

  zoomAround(factor, [cx, cy]) {
    const [x, y, w, h] = this.view;
    const nw = w / factor;
    const nh = h / factor;
    this.setView([cx - (cx - x) / factor, cy - (cy - y) / factor, nw, nh]);
  }

  zoomToBox([x0, y0, x1, y1]) {
    const pad = Math.max(x1 - x0, y1 - y0) * 0.12 + 40;
    const [hw, hh] = [this.home[2], this.home[3]];
    let w = x1 - x0 + 2 * pad;
    let h = y1 - y0 + 2 * pad;
    if (w / h < hw / hh) w = (h * hw) / hh;
    else h = (w * hh) / hw;
    this.setView([(x0 + x1) / 2 - w / 2, (y0 + y1) / 2 - h / 2, w, h]);
  }

  reset() {
    this.unpick();
    this.chosen = "oblast";
    this.setView([...this.home]);
  }

  toMap(clientX, clientY) {
    const point = new DOMPoint(clientX, clientY).matrixTransform(this.svg.getScreenCTM().inverse());
    return [point.x, point.y];
  }

  // -- events --------------------------------------------------------------------------

  bind() {
    const svg = this.svg;
    this.frame.querySelector(".map-controls")?.addEventListener("click", (e) => {
      const action = e.target.closest("[data-zoom]")?.dataset.zoom;
      if (action === "in") this.zoomAround(1.8, this.centre());
      if (action === "out") this.zoomAround(1 / 1.8, this.centre());
      if (action === "reset") this.reset();
    });
    svg.addEventListener("wheel", (e) => {
      e.preventDefault();
      const factor = Math.exp(-e.deltaY * (e.deltaMode ? 0.05 : 0.002));
      this.zoomAround(factor, this.toMap(e.clientX, e.clientY));
    }, { passive: false });

    const pointers = new Map();
    let drag = null;
    svg.addEventListener("pointerdown", (e) => {
      pointers.set(e.pointerId, [e.clientX, e.clientY]);
      drag = { x: e.clientX, y: e.clientY, view: [...this.view], moved: false, pinch: null };
      if (pointers.size === 2) {
        const [a, b] = [...pointers.values()];
        drag.pinch = { dist: Math.hypot(a[0] - b[0], a[1] - b[1]), view: [...this.view] };
      }
    });
    svg.addEventListener("pointermove", (e) => {
      this.hover(e);
      if (!drag || !pointers.has(e.pointerId)) return;
      pointers.set(e.pointerId, [e.clientX, e.clientY]);
      const perPx = this.view[2] / svg.clientWidth;
      if (pointers.size === 2 && drag.pinch) {
        const [a, b] = [...pointers.values()];
        const dist = Math.hypot(a[0] - b[0], a[1] - b[1]);
        const mid = this.toMap((a[0] + b[0]) / 2, (a[1] + b[1]) / 2);
        this.view = [...drag.pinch.view];
        this.zoomAround(dist / drag.pinch.dist, mid);
        drag.moved = true;
        return;
      }
      const dx = e.clientX - drag.x;
      const dy = e.clientY - drag.y;
      if (!drag.moved && Math.hypot(dx, dy) < 5) return;
      if (!drag.moved) svg.setPointerCapture(e.pointerId);
      drag.moved = true;
      if (this.zoom() <= 1.01) return; // nothing to pan at home zoom
      const [x, y, w, h] = drag.view;
      this.view = [x - dx * perPx, y - dy * perPx, w, h];
      this.applyView(this.view);
    });
    const end = (e) => {
      pointers.delete(e.pointerId);
      if (pointers.size === 0) {
        const wasDrag = drag?.moved;
        drag = null;
        if (wasDrag) this.setLevel(this.effectiveLevel());
        else if (e.type === "pointerup") this.clicked(e.target);
      }
    };
    svg.addEventListener("pointerup", end);
    svg.addEventListener("pointercancel", end);
    svg.addEventListener("pointerleave", () => this.hideTip());
    svg.addEventListener("keydown", (e) => this.key(e));
    svg.addEventListener("focusin", (e) => {
      if (e.target.dataset?.regionId) this.fixTabStop(e.target);
    });
    addEventListener("resize", () => this.refreshScale());
  }

  clicked(target) {
    const id = target.closest?.("[data-region-id]")?.dataset.regionId;
    if (id) this.pick(id, { zoom: this.pickZoom });
  }

  hover(e) {
    const tip = this.frame.querySelector(".map-tip");
    if (!tip || e.pointerType !== "mouse") return;
    const node = e.target.closest?.("[data-region-id]");
    if (!node || !this.colouring) return this.hideTip();
    tip.textContent = node.getAttribute("aria-label") || "";
    const rect = this.frame.getBoundingClientRect();
    tip.style.left = `${e.clientX - rect.left + 14}px`;
    tip.style.top = `${e.clientY - rect.top + 14}px`;
    tip.hidden = false;
  }

  hideTip() {
    const tip = this.frame.querySelector(".map-tip");
    if (tip) tip.hidden = true;
  }

  // One shape holds tabindex=0: the focused one, else the picked one, else the first.
  fixTabStop(focused = null) {
    const shapes = this.shapes();
    const keep = focused || shapes.find((n) => n.dataset.regionId === this.picked) || shapes[0];
    for (const n of shapes) n.setAttribute("tabindex", n === keep ? "0" : "-1");
  }

  key(e) {
    const node = e.target.closest?.("[data-region-id]");
    const moves = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    if (e.key in moves && node) {
      e.preventDefault();
      const next = this.neighbour(node, moves[e.key]);
      if (next) next.focus();
    } else if ((e.key === "Enter" || e.key === " ") && node) {
      e.preventDefault();
      this.pick(node.dataset.regionId, { zoom: this.pickZoom });
    } else if (e.key === "+" || e.key === "=") {
      this.zoomAround(1.8, this.centre());
    } else if (e.key === "-") {
      this.zoomAround(1 / 1.8, this.centre());
    } else if (e.key === "Escape" || e.key === "Home") {
      this.reset();
    }
  }

  // The nearest shape whose centre lies in that direction (within a 60-degree cone first).
  neighbour(node, [dx, dy]) {
    const centre = (n) => {
      const b = n.getBBox();
      return [b.x + b.width / 2, b.y + b.height / 2];
    };
    const [x, y] = centre(node);
    let best = null;
    let bestScore = Infinity;
    for (const other of this.shapes()) {
      if (other === node) continue;
      const [ox, oy] = centre(other);
      const along = (ox - x) * dx + (oy - y) * dy;
      if (along <= 0) continue;
      const across = Math.abs((ox - x) * dy - (oy - y) * dx);
      const score = along + across * 2.5;
      if (score < bestScore) [best, bestScore] = [other, score];
    }
    return best;
  }
}

export { describeLook } from "./describe.js";
export { shortOf };
