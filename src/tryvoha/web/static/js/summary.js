// The headline over the list: tryvoha.web.present.headline, from the live state
// (tests/web/cases/headline.json holds both to the same answers).

import { t } from "./i18n.js";

export function headline(looks, active) {
  const red = looks.filter((s) => s.state === "alert" && s.level === "red").length;
  const yellow = looks.filter((s) => s.state === "alert" && s.level === "yellow").length;
  const partial = looks.filter((s) => s.state === "partial").length;
  return { red, yellow, partial, total: looks.length, active };
}

export const headlineState = (h) => (h.red ? "alert" : h.yellow ? "yellow" : "clear");

export function headlineTitle(h) {
  if (h.red === h.total) return t("summary.all");
  if (h.red) return t("summary.oblasts", { n: h.red, total: h.total });
  if (h.yellow) return t("summary.yellow_oblasts", { n: h.yellow, total: h.total });
  if (h.partial) return t("summary.only_partial");
  return t("summary.none");
}

export function headlineSub(h) {
  const parts = [];
  if (h.red && h.yellow) parts.push(t("summary.yellow_more", { n: h.yellow }));
  if (h.partial && (h.red || h.yellow)) parts.push(t("summary.partial", { n: h.partial }));
  parts.push(h.active ? t("summary.active", { n: h.active }) : t("summary.calm"));
  return parts.join(" · ");
}

export function summarise(regions, colouring, activeCount) {
  const looks = regions.atLevel("oblast").map((o) => colouring.of(o.id));
  const h = headline(looks, activeCount);
  return { red: h.red, state: headlineState(h), title: headlineTitle(h), sub: headlineSub(h) };
}

export function showSummary(summary) {
  const box = document.getElementById("summary");
  if (!box) return;
  box.dataset.state = summary.state;
  document.getElementById("summary-title").textContent = summary.title;
  document.getElementById("summary-sub").textContent = summary.sub;
}
