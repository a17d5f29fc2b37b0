// "My place": a region the person follows, kept in this browser, shown above the list.

import { clock, duration, nameOf, t } from "./i18n.js";

const KEY = "tryvoha.myplace";

export const getPlace = () => {
  try {
    return localStorage.getItem(KEY);
  } catch {
    return null;
  }
};

export function setPlace(id) {
  try {
    if (id) localStorage.setItem(KEY, id);
    else localStorage.removeItem(KEY);
  } catch {
    /* private mode: the place lasts as long as the page */
  }
}

// The card: the region's name, one word for its state, and since when.
export function renderPlace(box, regions, colouring, { onClear } = {}) {
  const id = getPlace();
  const region = id && regions.get(id);
  if (!box) return;
  if (!region) {
    box.hidden = true;
    return;
  }
  const look = colouring.of(id);
  const alerts = colouring.alertsFor(id);
  box.hidden = false;
  box.dataset.state = look.state;
  box.dataset.threat = look.threat;
  box.dataset.level = look.level;
  const first = alerts.length ? alerts.map((a) => a.started_at).sort()[0] : null;
  const label = document.createElement("p");
  label.className = "myplace-label";
  label.textContent = t("myplace.title");
  const name = document.createElement("a");
  name.className = "myplace-name";
  name.href = `/region/${id}`;
  name.textContent = nameOf(region);
  const word = document.createElement("p");
  word.className = "myplace-state";
  word.textContent =
    look.state === "alert" ? t(`threat.${look.threat}`) : look.state === "partial" ? t("state.word.partial") : t("state.word.clear");
  const detail = document.createElement("p");
  detail.className = "myplace-detail";
  if (look.state === "alert" && first) {
    const d = document.createElement("span");
    d.className = "alert-dur";
    d.dataset.since = first;
    d.textContent = duration((Date.now() - Date.parse(first)) / 1000);
    detail.append(`${t("time.since")} ${clock(new Date(first))} · `, d);
    if (look.level === "yellow") detail.append(` · ${t("level.yellow_short")}`);
  } else if (look.state === "partial") {
    detail.textContent = t("myplace.partial");
  } else {
    detail.textContent = t("myplace.clear");
  }
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "link-btn";
  remove.textContent = t("myplace.remove");
  remove.addEventListener("click", () => {
    setPlace(null);
    box.hidden = true;
    onClear?.();
  });
  box.replaceChildren(label, name, word, detail, remove);
}
