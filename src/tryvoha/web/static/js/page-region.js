// A region page: its state, every threat there and what to do, the alerts that touch it,
// notifications (through Web Push, even with the tab closed, where the browser can; else
// while it is open) and a siren while it is open, charts of its history.

import { renderList, startTicking } from "./alerts.js";
import { bindPeriods } from "./charts.js";
import { nameOf, pageData, sinceText, t } from "./i18n.js";
import { LiveStream } from "./live.js";
import { getPlace, setPlace } from "./myplace.js";
import { renderNow } from "./place.js";
import { isNews, lookKey, showNotice } from "./pagenotice.js";
import { follow, isPushed, PushDenied, PushUnavailable, pushSupported, syncPush, unfollow } from "./push.js";
import { Regions } from "./regions.js";
import { playSiren, setSiren, sirenOn, unlockSiren } from "./siren.js";
import { AlertState, lookData, wordKey } from "./state.js";
import { bindRetry, showStatus } from "./status.js";

const id = pageData.region_id;
const state = new AlertState({ seq: pageData.seq, alerts: pageData.alerts });
let regions = null;
let lastState = null;
let notify = false; // notifications shown by this page while it is open (no Web Push here)
let siren = sirenOn();

startTicking();
bindPeriods(document.getElementById("periods"), document.getElementById("charts"), id);

function stateDetail(look, covering) {
  if (look.state === "alert") {
    return t("region.alert_since", { time: sinceText(covering.map((a) => a.started_at).sort()[0]) });
  }
  if (look.state === "partial" && look.vague) {
    const oblast = regions.oblastOf(id) || id;
    return t("region.somewhere_detail", { name: nameOf(regions.get(oblast)) });
  }
  if (look.state === "partial") {
    return t("region.partial_detail", { n: new Set(covering.filter((a) => a.region_id !== id).map((a) => a.region_id)).size });
  }
  return "";
}

function render() {
  const colouring = state.colouring(regions);
  const look = colouring.of(id);
  const covering = colouring.alertsFor(id);
  Object.assign(document.getElementById("region-state").dataset, lookData(look));
  document.getElementById("region-state-word").textContent = t(wordKey(look));
  document.getElementById("region-state-detail").textContent = stateDetail(look, covering);
  renderNow(document.getElementById("threat-lines"), document.getElementById("advice"), look, covering);
  for (const li of document.querySelectorAll("#threat-states li")) {
    const one = state.colouring(regions, li.dataset.for).of(id);
    Object.assign(li.dataset, lookData(one));
    const key = one.state === "alert" && one.level === "yellow" ? "yellow" : one.state;
    li.querySelector(".ts-state").textContent = t(`state.${key}`);
  }
  for (const li of document.querySelectorAll("#children li")) Object.assign(li.dataset, lookData(colouring.of(li.dataset.regionId)));
  const alerts = state.active();
  renderList(document.getElementById("alerts"), alerts, regions);
  document.getElementById("active-count").textContent = String(alerts.length);
  document.getElementById("alerts-empty").hidden = alerts.length > 0;
  const now = lookKey(look);
  if (lastState !== null && now !== lastState) announce(look, covering, lastState, now);
  lastState = now;
}

// A change of this region's state while the page is open: a notification when it is news
// and this page notifies, the siren when it turned red.
function announce(look, covering, before, now) {
  if (notify && isNews(before, now)) showNotice(id, nameOf(regions.get(id)), now.startsWith("alert"), covering);
  if (siren && now === "alert-red") playSiren();
}

// The bell: Web Push for this region where the browser has it (the opt-in is kept in the
// browser and on the server), else notifications while this page is open: where the
// browser has no Web Push API, or has it with no push service behind it (PushUnavailable:
// the bell then says so).
function bindBell() {
  const bell = document.getElementById("notify");
  const note = document.getElementById("notify-note");
  const show = (on) => {
    bell.setAttribute("aria-pressed", String(on));
    bell.textContent = on ? t("region.notify_on") : t("region.notify");
  };
  if (pushSupported()) {
    bell.hidden = false;
    note.textContent = t("push.notify_closed");
    show(isPushed(id));
    bell.addEventListener("click", async () => {
      bell.disabled = true;
      try {
        if (notify) {
          notify = false; // the note still says what this browser can do
        } else {
          await (isPushed(id) ? unfollow(id) : follow(id));
          note.textContent = t("push.notify_closed");
        }
      } catch (error) {
        if (error instanceof PushUnavailable) {
          console.warn("push", error.message);
          notify = Notification.permission === "granted";
          note.textContent = t("push.unsupported");
        } else {
          note.textContent = error instanceof PushDenied ? t("region.notify_denied") : t("push.failed", { reason: error.message });
        }
      } finally {
        bell.disabled = false;
        show(isPushed(id) || notify);
      }
    });
    syncPush()
      .then(() => show(isPushed(id) || notify))
      .catch((error) => console.warn("push", error));
    return;
  }
  if ("Notification" in window) {
    bell.hidden = false;
    bell.addEventListener("click", async () => {
      if (notify) {
        notify = false;
      } else {
        const permission = await Notification.requestPermission();
        notify = permission === "granted";
        if (permission === "denied") note.textContent = t("region.notify_denied");
      }
      show(notify);
    });
  }
}

function bindButtons() {
  bindBell();
  const horn = document.getElementById("siren");
  if ("AudioContext" in window) {
    horn.hidden = false;
    const show = () => {
      horn.setAttribute("aria-pressed", String(siren));
      horn.textContent = siren ? t("region.siren_on") : t("region.siren");
    };
    horn.addEventListener("click", async () => {
      siren = !siren;
      setSiren(siren);
      if (siren) await unlockSiren();
      show();
    });
    show();
  }
  const follow = document.getElementById("follow");
  follow.hidden = false;
  const sync = () => {
    const mine = getPlace() === id;
    follow.setAttribute("aria-pressed", String(mine));
    follow.textContent = mine ? t("myplace.is_mine") : t("myplace.make");
  };
  follow.addEventListener("click", () => {
    setPlace(getPlace() === id ? null : id);
    sync();
  });
  sync();
}

async function main() {
  regions = await Regions.load(pageData.urls.regions);
  bindButtons();
  render();
  const stream = new LiveStream({
    seq: state.seq,
    params: { region: id },
    onEvent: (event) => {
      if (state.apply(event)) render();
    },
    onResync: async () => {
      const all = await (await fetch("/api/v1/alerts/active", { cache: "no-store" })).json();
      const related = all.alerts.filter((a) => regions.isWithin(a.region_id, id) || regions.isWithin(id, a.region_id));
      state.load({ seq: all.seq, alerts: related });
      render();
      return all;
    },
    onStatus: showStatus,
  });
  bindRetry(stream);
  stream.start();
  window.tryvoha = { state, stream, regions };
}

main().catch((error) => console.error(error));
