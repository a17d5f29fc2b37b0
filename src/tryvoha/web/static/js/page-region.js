// A region page: its state, the alerts that touch it, notifications while it is open.

import { renderList, startTicking } from "./alerts.js";
import { renderCharts } from "./charts.js";
import { clock, nameOf, pageData, t } from "./i18n.js";
import { LiveStream } from "./live.js";
import { getPlace, setPlace } from "./myplace.js";
import { Regions } from "./regions.js";
import { AlertState } from "./state.js";
import { bindRetry, showStatus } from "./status.js";

const id = pageData.region_id;
const state = new AlertState({ seq: pageData.seq, alerts: pageData.alerts });
let regions = null;
let lastState = null;
let notify = false;

startTicking();
renderCharts(document.getElementById("charts"), id);

function render() {
  const colouring = state.colouring(regions);
  const look = colouring.of(id);
  const box = document.getElementById("region-state");
  Object.assign(box.dataset, look);
  document.getElementById("region-state-word").textContent = t(`state.word.${look.state}`);
  const covering = colouring.alertsFor(id);
  const detail = document.getElementById("region-state-detail");
  if (look.state === "alert") {
    const first = covering.map((a) => a.started_at).sort()[0];
    detail.textContent = t("region.alert_since", { threat: t(`threat.${look.threat}`), time: clock(new Date(first)) });
  } else if (look.state === "partial") {
    const n = new Set(covering.map((a) => a.region_id)).size;
    detail.textContent = t("region.partial_detail", { n });
  } else {
    detail.textContent = "";
  }
  for (const li of document.querySelectorAll("#threat-states li")) {
    const s = state.colouring(regions, li.dataset.threat).of(id).state;
    li.dataset.state = s;
    li.querySelector(".ts-state").textContent = t(`state.${s}`);
  }
  for (const li of document.querySelectorAll("#children li")) Object.assign(li.dataset, colouring.of(li.dataset.regionId));
  const alerts = state.active();
  renderList(document.getElementById("alerts"), alerts, regions);
  document.getElementById("active-count").textContent = String(alerts.length);
  document.getElementById("alerts-empty").hidden = alerts.length > 0;
  if (notify && lastState !== null && (look.state === "alert") !== (lastState === "alert")) {
    const name = nameOf(regions.get(id));
    const title = look.state === "alert" ? t("region.notify_title_alert", { name }) : t("region.notify_title_clear", { name });
    new Notification(title, { body: look.state === "alert" ? t(`threat.${look.threat}`) : "", tag: id, lang: pageData.lang });
  }
  lastState = look.state;
}

function bindButtons() {
  const bell = document.getElementById("notify");
  if ("Notification" in window) {
    bell.hidden = false;
    bell.addEventListener("click", async () => {
      if (notify) {
        notify = false;
      } else {
        const permission = await Notification.requestPermission();
        notify = permission === "granted";
        if (permission === "denied") document.getElementById("notify-note").textContent = t("region.notify_denied");
      }
      bell.setAttribute("aria-pressed", String(notify));
      bell.textContent = notify ? t("region.notify_on") : t("region.notify");
    });
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
