// Lists of active alerts: the same markup as templates/_alerts.html, newest first, with
// durations that tick.

import { duration, lang, nameOf, sinceText, t } from "./i18n.js";
import { isConsolidated, KIND_ORDER, LONG_STANDING_MS } from "./state.js";

export function messageOf(alert) {
  const m = alert.message;
  if (!m) return null;
  return lang === "uk" ? m.uk || m.en : m.en || m.uk;
}

export function newestFirst(alerts) {
  return [...alerts].sort((a, b) => b.started_at.localeCompare(a.started_at) || b.region_id.localeCompare(a.region_id));
}

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

const SVG_NS = "http://www.w3.org/2000/svg";

export function kindIcon(kind) {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("class", "kind-icon");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const use = document.createElementNS(SVG_NS, "use");
  use.setAttribute("href", `#i-${kind}`);
  svg.append(use);
  return svg;
}

// Threat kinds in one order, each once.
export function kindsOf(alerts) {
  const kinds = new Set(alerts.flatMap((a) => (a.threats || []).map((k) => k.kind)));
  return KIND_ORDER.filter((k) => kinds.has(k));
}

export function kindsList(kinds) {
  const ul = el("ul", "kinds");
  for (const k of kinds) {
    const li = el("li");
    li.dataset.kind = k;
    li.append(kindIcon(k), t(`kind.${k}`));
    ul.append(li);
  }
  return ul;
}

export function alertItem(alert, regions, { link = true, actions = null, compact = false } = {}) {
  const li = el("li", compact ? "alert alert-compact" : "alert");
  li.dataset.alertId = alert.id;
  li.dataset.regionId = alert.region_id;
  li.dataset.threat = alert.threat;
  li.dataset.level = alert.level;
  li.dataset.standing = String(Date.now() - Date.parse(alert.started_at) >= LONG_STANDING_MS);
  li.dataset.vague = String(isConsolidated(alert.issuer));
  const chip = el("span", "alert-chip");
  chip.setAttribute("aria-hidden", "true");
  li.append(chip);
  const body = el("div", "alert-body");
  const where = el("p", "alert-region");
  const name = nameOf(regions.get(alert.region_id)) || alert.region_id;
  if (link) {
    const a = el("a", "", name);
    a.href = `/region/${alert.region_id}`;
    where.append(a);
  } else {
    where.append(name);
  }
  const oblast = regions.oblastOf(alert.region_id);
  if (oblast && oblast !== alert.region_id) where.append(" ", el("span", "alert-where", nameOf(regions.get(oblast))));
  body.append(where);
  const what = el("p", "alert-what", t(`threat.${alert.threat}`));
  if (alert.level === "yellow") what.append(" · ", el("span", "alert-level", t("level.yellow_short")));
  body.append(what);
  if (li.dataset.vague === "true") body.append(el("p", "alert-note", t("alert.vague")));
  const kinds = kindsOf([alert]);
  if (kinds.length) body.append(kindsList(kinds));
  const message = messageOf(alert);
  if (message && !compact) body.append(el("p", "alert-msg", message));
  li.append(body);
  const time = el("p", "alert-time");
  const since = el("span", "alert-since", `${t("time.since")} `);
  const stamp = el("time", "", sinceText(alert.started_at));
  stamp.dateTime = alert.started_at;
  since.append(stamp);
  const dur = el("span", "alert-dur");
  dur.dataset.since = alert.started_at;
  time.append(since, " ", dur);
  li.append(time);
  if (actions) li.append(actions(alert));
  return li;
}

export function renderList(list, alerts, regions, options = {}) {
  list.replaceChildren(...newestFirst(alerts).map((a) => alertItem(a, regions, options)));
  tick(list);
}

export function tick(root = document) {
  const now = Date.now();
  for (const node of root.querySelectorAll(".alert-dur[data-since]")) {
    const text = duration((now - Date.parse(node.dataset.since)) / 1000);
    if (node.textContent !== text) node.textContent = text;
  }
}

export function startTicking() {
  tick();
  setInterval(() => tick(), 15000);
}
