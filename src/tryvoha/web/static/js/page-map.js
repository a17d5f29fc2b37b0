// The live map at /: the page came with the state at some seq; this keeps it current.

import { renderList, startTicking, tick } from "./alerts.js";
import { nameOf, pageData, t } from "./i18n.js";
import { LiveStream } from "./live.js";
import { describeLook, MapView } from "./map.js";
import { getPlace, renderPlace, setPlace } from "./myplace.js";
import { Regions } from "./regions.js";
import { bindSearch } from "./search.js";
import { AlertState } from "./state.js";
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
  document.title = `${summary.alert ? `(${summary.alert}) ` : ""}${t("map.title")} — ${t("app.name")}`;
  renderPlace(document.getElementById("myplace"), regions, all);
  if (map.picked) showPicked(map.picked);
}

function schedule() {
  if (!queued) {
    queued = true;
    setTimeout(render, 0);
  }
}

function showPicked(id) {
  const box = document.getElementById("picked");
  const region = regions.get(id);
  if (!region) return;
  const colouring = state.colouring(regions);
  const look = colouring.of(id);
  box.hidden = false;
  box.dataset.state = look.state;
  box.dataset.threat = look.threat;
  box.dataset.level = look.level;
  const head = document.createElement("div");
  head.className = "picked-head";
  const title = document.createElement("h3");
  title.textContent = nameOf(region);
  const close = document.createElement("button");
  close.type = "button";
  close.className = "icon-btn";
  close.setAttribute("aria-label", t("picked.close"));
  close.textContent = "×";
  close.addEventListener("click", () => {
    box.hidden = true;
    map.unpick();
  });
  head.append(title, close);
  const stateLine = document.createElement("p");
  stateLine.className = "picked-state";
  stateLine.textContent = describeLook(regions, id, look).replace(`${nameOf(region)}: `, "");
  const oblast = regions.oblastOf(id);
  const level = document.createElement("p");
  level.className = "muted";
  level.textContent = [t(`level.${region.level}`), oblast && oblast !== id ? nameOf(regions.get(oblast)) : ""].filter(Boolean).join(" · ");
  const actions = document.createElement("p");
  actions.className = "row";
  const more = document.createElement("a");
  more.className = "btn btn-small";
  more.href = `/region/${id}`;
  more.textContent = t("picked.open");
  const follow = document.createElement("button");
  follow.type = "button";
  follow.className = "btn btn-small btn-quiet";
  follow.textContent = getPlace() === id ? t("myplace.is_mine") : t("myplace.make");
  follow.disabled = getPlace() === id;
  follow.addEventListener("click", () => {
    setPlace(id);
    render();
  });
  actions.append(more, follow);
  box.replaceChildren(head, stateLine, level, actions);
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
  showPicked(found.region_id);
  render();
}

async function main() {
  regions = await Regions.load(pageData.urls.regions);
  map = new MapView(document.getElementById("map-frame"), {
    regions,
    urls: pageData.urls,
    onPick: (id) => showPicked(id),
    describe: (id, look) => describeLook(regions, id, look),
  });
  document.querySelectorAll('input[name="level"]').forEach((radio) =>
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
      showPicked(region.id);
    },
  });
  document.getElementById("where-am-i").addEventListener("click", whereAmI);
  render();
  tick();

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
  window.tryvoha = { state, map, stream, regions }; // for the curious, and for the tests
}

main().catch((error) => {
  console.error(error);
  showStatus("offline", { lastHeard: Date.now(), retryAt: 0 });
});
