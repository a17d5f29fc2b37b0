// The live map at /: the page came with the state at some seq; this keeps it current.
// "My place" comes first (and is outlined on the map); a picked region's panel sits
// beside the map, above the national picture.

import { el, renderList, startTicking, tick } from "./alerts.js";
import { nameOf, pageData, t } from "./i18n.js";
import { LiveStream } from "./live.js";
import { describeLook, LEVEL_CONTROL, MapView } from "./map.js";
import { getPlace, renderPlace, setPlace } from "./myplace.js";
import { renderNow } from "./place.js";
import { syncPush } from "./push.js";
import { Regions } from "./regions.js";
import { bindSearch } from "./search.js";
import { AlertState, lookData, wordKey } from "./state.js";
import { bindRetry, showStatus } from "./status.js";
import { showSummary, summarise } from "./summary.js";

const state = new AlertState({ seq: pageData.seq, alerts: pageData.alerts });
let threat = "";
let map = null;
let regions = null;
let queued = false;

startTicking();

function render() {
  queued = false;
  const all = state.colouring(regions);
  const shown = threat ? state.colouring(regions, threat) : all;
  map.paint(shown);
  const alerts = state.active(threat ? (a) => a.threat === threat : null);
  renderList(document.getElementById("alerts"), alerts, regions);
  document.getElementById("active-count").textContent = String(alerts.length);
  document.getElementById("alerts-empty").hidden = alerts.length > 0;
  const summary = summarise(regions, all, state.alerts.size);
  showSummary(summary);
  document.title = `${summary.red ? `(${summary.red}) ` : ""}${t("map.title")} — ${t("app.name")}`;
  renderPlace(document.getElementById("myplace"), regions, all, {
    onClear: () => {
      map.unpick();
      render();
    },
    onLocate: whereAmI,
  });
  if (!document.getElementById("picked").hidden && map.picked) showPicked(map.picked);
}

function schedule() {
  if (!queued) {
    queued = true;
    setTimeout(render, 0);
  }
}

function hidePicked() {
  document.getElementById("picked").hidden = true;
}

function showPicked(id, { reveal = false } = {}) {
  const box = document.getElementById("picked");
  const region = regions.get(id);
  if (!region) return;
  const colouring = state.colouring(regions);
  const look = colouring.of(id);
  const alerts = colouring.alertsFor(id);
  box.hidden = false;
  Object.assign(box.dataset, lookData(look));
  box.dataset.regionId = id;
  const head = el("div", "picked-head");
  const title = el("h2", "", nameOf(region));
  title.id = "picked-title";
  box.setAttribute("aria-labelledby", "picked-title");
  const close = el("button", "icon-btn", "×");
  close.type = "button";
  close.setAttribute("aria-label", t("picked.close"));
  close.addEventListener("click", () => {
    hidePicked();
    map.unpick();
    if (getPlace()) map.pick(getPlace(), { zoom: false, announce: false });
  });
  head.append(title, close);
  const oblast = regions.oblastOf(id);
  const where = el("p", "muted", [t(`level.${region.kind}`), oblast && oblast !== id ? nameOf(regions.get(oblast)) : ""].filter(Boolean).join(" · "));
  const word = el("p", "picked-state", t(wordKey(look)));
  const lines = el("ul", "threat-lines");
  const advice = el("ul", "advice");
  renderNow(lines, advice, look, alerts);
  const actions = el("p", "row");
  const more = el("a", "btn btn-small", t("picked.open"));
  more.href = `/region/${id}`;
  const mine = getPlace() === id;
  const follow = el("button", "btn btn-small btn-quiet", mine ? t("myplace.is_mine") : t("myplace.make"));
  follow.type = "button";
  follow.setAttribute("aria-pressed", String(mine));
  follow.addEventListener("click", () => {
    setPlace(id);
    render();
  });
  actions.append(more, follow);
  box.replaceChildren(head, where, word, lines, advice, actions);
  if (reveal) box.scrollIntoView({ block: "nearest" });
}

async function whereAmI() {
  const note = document.getElementById("locate-note");
  const say = (text, kind = "") => {
    note.hidden = false;
    note.dataset.kind = kind;
    note.textContent = text;
  };
  if (!navigator.geolocation) return say(t("locate.unsupported"), "error");
  say(t("locate.asking"));
  let position;
  try {
    position = await new Promise((resolve, reject) =>
      navigator.geolocation.getCurrentPosition(resolve, reject, { enableHighAccuracy: true, timeout: 15000, maximumAge: 0 }),
    );
  } catch (error) {
    return say(error.code === 1 ? t("locate.denied") : t("locate.failed"), "error");
  }
  const { latitude, longitude } = position.coords;
  const response = await fetch(`/api/v1/locate?lat=${latitude.toFixed(6)}&lon=${longitude.toFixed(6)}`).catch(() => null);
  if (!response) return say(t("locate.failed"), "error");
  if (response.status === 404) return say(t("locate.outside"), "outside");
  if (!response.ok) return say(t("locate.failed"), "error");
  const found = await response.json();
  const names = [found.hromada, found.raion, found.oblast].filter(Boolean).map((r) => nameOf(regions.get(r.id)));
  say(`${t("locate.here")} ${names.join(", ")}${found.approximate ? ` ${t("locate.approximate")}` : ""}`, "found");
  setPlace(found.region_id);
  await map.showYou(longitude, latitude);
  await map.pick(found.region_id, { announce: false });
  hidePicked();
  render();
}

async function main() {
  regions = await Regions.load(pageData.urls.regions);
  map = new MapView(document.getElementById("map-frame"), {
    regions,
    urls: pageData.urls,
    onPick: (id) => showPicked(id, { reveal: true }),
    describe: (id, look, alerts) => describeLook(regions, id, look, alerts),
  });
  document.querySelectorAll(`input[name="${LEVEL_CONTROL}"]`).forEach((radio) =>
    radio.addEventListener("change", () => map.setLevel(radio.value, { chosen: true })),
  );
  document.getElementById("threat-filter")?.addEventListener("change", (e) => {
    threat = e.target.value;
    render();
  });
  bindSearch(document.getElementById("search-input"), document.getElementById("search-list"), {
    regions,
    onChoose: async (region) => {
      await map.pick(region.id, { announce: false });
      showPicked(region.id, { reveal: true });
    },
  });
  document.getElementById("where-am-i").addEventListener("click", whereAmI);
  render();
  tick();
  const place = getPlace();
  if (place && regions.get(place)) map.pick(place, { zoom: false, announce: false });

  const stream = new LiveStream({
    seq: state.seq,
    onEvent: (event) => {
      if (state.apply(event)) schedule();
    },
    onResync: async () => {
      const snapshot = await (await fetch("/api/v1/alerts/active", { cache: "no-store" })).json();
      state.load(snapshot);
      schedule();
      return snapshot;
    },
    onStatus: showStatus,
  });
  bindRetry(stream);
  stream.start();
  syncPush()
    .then(schedule)
    .catch((error) => console.warn("push", error));
  window.tryvoha = { state, map, stream, regions }; // for the curious, and for the tests
}

main().catch((error) => {
  console.error(error);
  showStatus("offline", { lastHeard: Date.now(), retryAt: 0 });
});
