// The operator console: sign in with a token, pick regions in scope, declare, clear.
// The token stays in this tab (sessionStorage) and goes only to this server's API.

import { alertItem, newestFirst, startTicking, tick } from "./alerts.js";
import { clock, nameOf, pageData, t } from "./i18n.js";
import { LiveStream } from "./live.js";
import { describeLook, MapView } from "./map.js";
import { Regions } from "./regions.js";
import { AlertState } from "./state.js";
import { bindRetry, showStatus } from "./status.js";

const TOKEN_KEY = "tryvoha.token";
const $ = (id) => document.getElementById(id);
const state = new AlertState({ seq: pageData.seq, alerts: pageData.alerts });
const picked = new Set();
let regions = null;
let map = null;
let me = null;
let token = null;
let pending = null; // {body, key}: a declare that may be retried with the same Idempotency-Key
let started = false;

startTicking();

async function api(method, path, body, key) {
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (key) headers["Idempotency-Key"] = key;
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await response.json().catch(() => ({}));
  return { ok: response.ok, status: response.status, data };
}

const inScope = (id) => !!me && me.scope.some((s) => regions.isWithin(id, s));

function say(node, text, kind = "") {
  node.textContent = text;
  node.dataset.kind = kind;
}

function problemText(problem) {
  if (problem.code === "out_of_scope" && Array.isArray(problem.regions)) {
    return problem.regions.map((r) => t("console.refused", { name: nameOf(regions.get(r)) || r })).join(" ");
  }
  return problem.detail || problem.title || String(problem.status || "");
}

// -- signing in ------------------------------------------------------------------------

async function signIn(candidate) {
  token = candidate;
  const answer = await api("GET", "/api/v1/me").catch(() => null);
  if (!answer || !answer.ok) {
    token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    const error = $("signin-error");
    error.hidden = false;
    error.textContent = t("console.bad_token", { detail: answer ? problemText(answer.data) : t("console.network") });
    return;
  }
  me = answer.data;
  sessionStorage.setItem(TOKEN_KEY, candidate);
  $("signin").hidden = true;
  $("workspace").hidden = false;
  $("who").textContent = t("console.who", {
    name: me.name, role: me.role, scope: me.scope.map((s) => nameOf(regions.get(s)) || s).join(", "),
  });
  map.refreshScale();
  render();
  refreshEvents();
  if (!started) startStream();
}

function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  location.reload();
}

// -- picking -----------------------------------------------------------------------------

function toggle(id) {
  const refused = $("pick-refused");
  if (!inScope(id)) {
    refused.hidden = false;
    refused.textContent = t("console.refused", { name: nameOf(regions.get(id)) });
    return;
  }
  refused.hidden = true;
  if (picked.has(id)) picked.delete(id);
  else picked.add(id);
  pending = null;
  renderPicked();
  map.repaint();
}

function renderPicked() {
  const list = $("picked-list");
  list.replaceChildren(
    ...[...picked].map((id) => {
      const li = document.createElement("li");
      li.dataset.regionId = id;
      li.append(nameOf(regions.get(id)));
      const remove = document.createElement("button");
      remove.type = "button";
      remove.textContent = "×";
      remove.setAttribute("aria-label", t("console.unpick", { name: nameOf(regions.get(id)) }));
      remove.addEventListener("click", () => toggle(id));
      li.append(remove);
      return li;
    }),
  );
  $("picked-count").textContent = String(picked.size);
  $("clear-picked").disabled = picked.size === 0;
}

function bindPicker() {
  const input = $("pick-search");
  const list = $("pick-results");
  input.addEventListener("input", () => {
    const found = regions.search(input.value, { limit: 12 });
    list.replaceChildren(
      ...found.map((region) => {
        const li = document.createElement("li");
        li.tabIndex = 0;
        li.dataset.regionId = region.id;
        const name = document.createElement("span");
        name.textContent = nameOf(region);
        const note = document.createElement("span");
        note.className = "opt-where";
        const allowed = inScope(region.id);
        note.textContent = allowed ? t(`level.${region.level}`) : t("console.out_of_scope");
        if (!allowed) li.setAttribute("aria-disabled", "true");
        li.append(name, note);
        const choose = () => {
          toggle(region.id);
          if (allowed) {
            input.value = "";
            list.replaceChildren();
          }
        };
        li.addEventListener("click", choose);
        li.addEventListener("keydown", (e) => {
          if (e.key === "Enter" || e.key === " ") {
            e.preventDefault();
            choose();
          }
        });
        return li;
      }),
    );
  });
}

// -- declaring ---------------------------------------------------------------------------

function oblastsCovered(ids) {
  if ([...ids].some((id) => regions.get(id)?.level === "country")) return pageData.oblast_count;
  return new Set([...ids].map((id) => regions.oblastOf(id)).filter(Boolean)).size;
}

function confirmDialog(title, text, ok) {
  const dialog = $("confirm");
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text;
  $("confirm-ok").textContent = ok;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true }));
}

function declareBody() {
  const form = $("declare-form");
  const data = new FormData(form);
  const body = {
    regions: [...picked],
    threat: data.get("threat"),
    level: data.get("level"),
    threats: data.getAll("kind"),
  };
  const uk = String(data.get("message_uk") || "").trim();
  const en = String(data.get("message_en") || "").trim();
  if (uk || en) body.message = { ...(uk ? { uk } : {}), ...(en ? { en } : {}) };
  return body;
}

async function declare(event) {
  event.preventDefault();
  const result = $("declare-result");
  if (!picked.size) return say(result, t("console.need_regions"), "error");
  const covered = oblastsCovered(picked);
  if (covered * 2 > pageData.oblast_count) {
    const names = [...picked].map((id) => nameOf(regions.get(id))).join(", ");
    const ok = await confirmDialog(
      t("console.confirm_title", { n: covered, total: pageData.oblast_count }),
      t("console.confirm_text", { names }),
      t("console.confirm_ok"),
    );
    if (!ok) return;
  }
  const body = declareBody();
  const text = JSON.stringify(body);
  if (!pending || pending.text !== text) pending = { text, key: crypto.randomUUID() };
  const button = $("declare");
  button.disabled = true;
  try {
    const answer = await api("POST", "/api/v1/alerts", body, pending.key);
    if (answer.ok) {
      say(result, t("console.declared", { n: answer.data.alerts.length, seq: answer.data.seq }), "ok");
      pending = null;
      picked.clear();
      renderPicked();
      map.repaint();
    } else {
      say(result, t("console.failed", { detail: problemText(answer.data) }), "error");
      if (answer.status < 500) pending = null;
    }
  } catch {
    say(result, t("console.network"), "error"); // the same key goes with the retry
  } finally {
    button.disabled = false;
    refreshEvents();
  }
}

// -- clearing ------------------------------------------------------------------------------

async function clearAlert(alert) {
  const answer = await api("POST", `/api/v1/alerts/${alert.id}/clear`, undefined, crypto.randomUUID()).catch(() => null);
  const result = $("clear-result");
  if (!answer) say(result, t("console.network"), "error");
  else if (answer.ok) say(result, t("console.cleared", { n: 1 }), "ok");
  else say(result, t("console.failed", { detail: problemText(answer.data) }), "error");
  refreshEvents();
}

async function clearRegions(ids) {
  let cleared = 0;
  const errors = [];
  for (const id of ids) {
    const answer = await api("POST", `/api/v1/regions/${id}/clear`, undefined, crypto.randomUUID()).catch(() => null);
    if (!answer) errors.push(t("console.network"));
    else if (answer.ok) cleared += answer.data.alerts?.length ?? 0;
    else if (answer.data.code !== "nothing_active") errors.push(problemText(answer.data));
  }
  const result = $("clear-result");
  if (errors.length) say(result, t("console.failed", { detail: errors.join("; ") }), "error");
  else say(result, t("console.cleared", { n: cleared }), "ok");
  refreshEvents();
}

function scopeAlerts() {
  return state.active((a) => inScope(a.region_id));
}

async function clearAll() {
  const n = scopeAlerts().length;
  const ok = await confirmDialog(t("console.confirm_clear_title"), t("console.confirm_clear_text", { n }), t("console.confirm_clear_ok"));
  if (ok) await clearRegions(me.scope);
}

// -- showing -------------------------------------------------------------------------------

function render() {
  if (!regions) return;
  map.paint(state.colouring(regions));
  if (!me) return;
  const alerts = newestFirst(scopeAlerts());
  $("scope-alerts").replaceChildren(
    ...alerts.map((alert) =>
      alertItem(alert, regions, {
        actions: (a) => {
          const wrap = document.createElement("p");
          wrap.className = "alert-actions";
          const button = document.createElement("button");
          button.type = "button";
          button.className = "btn btn-small";
          button.textContent = t("console.clear");
          button.setAttribute("aria-label", t("console.clear_one", { name: nameOf(regions.get(a.region_id)) }));
          button.addEventListener("click", () => clearAlert(a));
          wrap.append(button);
          return wrap;
        },
      }),
    ),
  );
  $("scope-count").textContent = String(alerts.length);
  $("scope-empty").hidden = alerts.length > 0;
  tick($("scope-alerts"));
}

async function refreshEvents() {
  if (!token) return;
  const answer = await api("GET", "/api/v1/me/events?limit=20").catch(() => null);
  if (!answer || !answer.ok) return;
  const events = answer.data.events;
  $("my-events").replaceChildren(
    ...events.map((e) => {
      const li = document.createElement("li");
      const when = document.createElement("time");
      when.dateTime = e.at;
      when.textContent = clock(new Date(e.at));
      const type = document.createElement("span");
      type.className = "ev-type";
      type.textContent = t(`console.event.${e.type}`);
      li.append(when, type, `${nameOf(regions.get(e.alert.region_id))} · ${t(`threat.${e.alert.threat}`)}`);
      return li;
    }),
  );
  $("events-empty").hidden = events.length > 0;
}

function startStream() {
  started = true;
  const stream = new LiveStream({
    seq: state.seq,
    onEvent: (event) => {
      if (state.apply(event)) {
        render();
        if (event.issuer === me?.name) refreshEvents();
      }
    },
    onResync: async () => {
      const snapshot = await (await fetch("/api/v1/alerts/active", { cache: "no-store" })).json();
      state.load(snapshot);
      render();
      return snapshot;
    },
    onStatus: showStatus,
  });
  bindRetry(stream);
  stream.start();
  window.tryvoha = { state, map, stream, regions, picked };
}

async function main() {
  regions = await Regions.load(pageData.urls.regions);
  map = new MapView($("map-frame"), {
    regions,
    urls: pageData.urls,
    pickZoom: false,
    onPick: (id) => toggle(id),
    describe: (id, look) => `${describeLook(regions, id, look)}${inScope(id) ? "" : ` (${t("console.out_of_scope")})`}`,
    shapeAttrs: (id) => ({ scope: me && !inScope(id) ? "out" : "in", picked: String(picked.has(id)) }),
  });
  document.querySelectorAll('input[name="level"]').forEach((radio) =>
    radio.addEventListener("change", () => map.setLevel(radio.value, { chosen: true })),
  );
  bindPicker();
  $("signin-form").addEventListener("submit", (e) => {
    e.preventDefault();
    signIn($("token").value.trim());
  });
  $("signout").addEventListener("click", signOut);
  $("declare-form").addEventListener("submit", declare);
  $("clear-picked").addEventListener("click", () => clearRegions([...picked]));
  $("clear-all").addEventListener("click", clearAll);
  render();
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) await signIn(saved);
}

main().catch((error) => console.error(error));
