// The headline over the list: tryvoha.server.pages.summary, from the live state.

import { t } from "./i18n.js";

export function summarise(regions, colouring, activeCount) {
  const oblasts = regions.atLevel("oblast");
  let alert = 0;
  let partial = 0;
  for (const o of oblasts) {
    const state = colouring.of(o.id).state;
    if (state === "alert") alert += 1;
    else if (state === "partial") partial += 1;
  }
  let title;
  if (alert === oblasts.length) title = t("summary.all");
  else if (alert) title = t("summary.oblasts", { n: alert, total: oblasts.length });
  else if (partial) title = t("summary.only_partial");
  else title = t("summary.none");
  const sub = partial && alert ? [t("summary.partial", { n: partial })] : [];
  sub.push(activeCount ? t("summary.active", { n: activeCount }) : t("summary.calm"));
  return { alert, title, sub: sub.join(" · ") };
}

export function showSummary(summary) {
  const box = document.getElementById("summary");
  if (!box) return;
  box.dataset.state = summary.alert ? "alert" : "clear";
  document.getElementById("summary-title").textContent = summary.title;
  document.getElementById("summary-sub").textContent = summary.sub;
}
