// "My place": the region a person follows, kept in this browser (and so across visits),
// shown first on the map page: its state, every threat there, what is coming, the
// issuers' messages and what to do, and a bell for notifications of it that reach a closed
// tab (Web Push; where the browser has no push service, while the page is open). With no
// place yet, a prompt to choose one.

import { el } from "./alerts.js";
import { nameOf, t } from "./i18n.js";
import { renderNow } from "./place.js";
import { isNews, lookKey, showNotice } from "./pagenotice.js";
import { follow, isPushed, PushDenied, PushUnavailable, pushSupported, unfollow } from "./push.js";
import { lookData, wordKey } from "./state.js";

const KEY = "tryvoha.myplace";
const whileOpen = new Set(); // places this page notifies of itself (no push service here)
let seen = { id: null, key: null }; // my place's state at the last render

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

function prompt(box, { onLocate }) {
  box.dataset.state = "none";
  const label = el("p", "myplace-label", t("myplace.title"));
  label.id = "myplace-label";
  const text = el("p", "myplace-detail", t("myplace.choose"));
  const locate = el("button", "btn btn-small", t("locate.button"));
  locate.type = "button";
  locate.addEventListener("click", () => onLocate?.());
  box.replaceChildren(label, text, locate);
}

// The card. `colouring` is the live one (every threat type).
export function renderPlace(box, regions, colouring, { onClear, onLocate } = {}) {
  if (!box) return;
  const id = getPlace();
  const region = id && regions.get(id);
  box.hidden = false;
  if (!region) return prompt(box, { onLocate });
  const look = colouring.of(id);
  const alerts = colouring.alertsFor(id);
  const key = lookKey(look);
  if (seen.id === id && whileOpen.has(id) && isNews(seen.key, key)) showNotice(id, nameOf(region), key.startsWith("alert"), alerts);
  seen = { id, key };
  Object.assign(box.dataset, lookData(look));
  const label = el("p", "myplace-label", t("myplace.title"));
  label.id = "myplace-label";
  const name = el("a", "myplace-name", nameOf(region));
  name.href = `/region/${id}`;
  const word = el("p", "myplace-state", t(wordKey(look)));
  const lines = el("ul", "threat-lines");
  const advice = el("ul", "advice");
  renderNow(lines, advice, look, alerts);
  const remove = el("button", "link-btn", t("myplace.remove"));
  remove.type = "button";
  remove.addEventListener("click", () => {
    setPlace(null);
    onClear?.();
  });
  box.replaceChildren(label, name, word, lines, advice, ...bell(id), remove);
}

// Notifications of my place, through Web Push (no bell where the browser has no Web Push
// API; while this page is open where it has one with no push service behind it).
function bell(id) {
  if (!pushSupported()) return [];
  const button = el("button", "btn btn-small myplace-notify");
  button.type = "button";
  const note = el("p", "myplace-note", whileOpen.has(id) ? t("push.unsupported") : "");
  note.setAttribute("role", "status");
  const show = () => {
    const on = isPushed(id) || whileOpen.has(id);
    button.setAttribute("aria-pressed", String(on));
    button.textContent = on ? t("region.notify_on") : t("region.notify");
  };
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      if (whileOpen.has(id)) {
        whileOpen.delete(id);
      } else {
        await (isPushed(id) ? unfollow(id) : follow(id));
        note.textContent = isPushed(id) ? t("push.notify_closed") : "";
      }
    } catch (error) {
      if (error instanceof PushUnavailable) {
        console.warn("push", error.message);
        if (Notification.permission === "granted") whileOpen.add(id);
        note.textContent = t("push.unsupported");
      } else {
        note.textContent = error instanceof PushDenied ? t("region.notify_denied") : t("push.failed", { reason: error.message });
      }
    } finally {
      button.disabled = false;
      show();
    }
  });
  show();
  return [button, note];
}
