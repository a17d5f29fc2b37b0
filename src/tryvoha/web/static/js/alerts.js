// Lists of active alerts: the same markup as templates/_alerts.html, newest first, with
// durations that tick.

import { clock, duration, lang, nameOf, t } from "./i18n.js";

export function messageOf(alert) {
  const m = alert.message;
  if (!m) return null;
  return lang === "uk" ? m.uk || m.en : m.en || m.uk;
}

export function newestFirst(alerts) {
  return [...alerts].sort((a, b) => b.started_at.localeCompare(a.started_at) || b.region_id.localeCompare(a.region_id));
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

export function alertItem(alert, regions, { link = true, actions = null } = {}) {
  const li = el("li", "alert");
  li.dataset.alertId = alert.id;
  li.dataset.regionId = alert.region_id;
  li.dataset.threat = alert.threat;
  li.dataset.level = alert.level;
  li.append(el("span", "alert-chip"));
  li.firstChild.setAttribute("aria-hidden", "true");
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
  if (alert.threats?.length) body.append(el("p", "alert-threats", alert.threats.map((k) => t(`kind.${k.kind}`)).join(", ")));
  const message = messageOf(alert);
  if (message) body.append(el("p", "alert-msg", message));
  li.append(body);
  const time = el("p", "alert-time");
  const since = el("span", "alert-since", `${t("time.since")} `);
  const stamp = el("time", "", clock(new Date(alert.started_at)));
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
