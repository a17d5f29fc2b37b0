// The operator console: sign in with a token, pick regions in scope, declare, edit, clear.
// The token stays in this tab (sessionStorage) and goes only to this server's API (v1).
// It says what it will do before it does it (the button names the count, threat and
// level; regions already under that alert are flagged; the confirmation repeats it all)
// and what it did after, region by region.

import { alertItem, el, newestFirst, startTicking, tick } from "./alerts.js";
import { clock, lang, nameOf, pageData, t } from "./i18n.js";
import { LiveStream } from "./live.js";
import { describeLook, LEVEL_CONTROL, MapView } from "./map.js";
import { askEdit, confirmDialog } from "./dialogs.js";
import { declareOutcome } from "./outcome.js";
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
let pending = null; // {text, key}: a declare that may be retried with the same Idempotency-Key
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
const nameFor = (id) => nameOf(regions.get(id)) || id;

function say(node, text, kind = "") {
  node.textContent = text;
  node.dataset.kind = kind;
}

function problemText(problem) {
  if (problem.code === "out_of_scope" && Array.isArray(problem.regions)) {
    return problem.regions.map((r) => t("console.refused", { name: nameFor(r) })).join(" ");
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
    name: me.name, role: me.role, scope: me.scope.map(nameFor).join(", "),
  });
  map.refreshScale();
  render();
  refreshEvents();
  refreshHeld();
  setInterval(refreshHeld, 5000); // held declares are not events: asked for now and then
  if (!started) startStream();
}

function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  location.reload();
}

// -- the form: what the declare would send ------------------------------------------------

function formValues() {
  const data = new FormData($("declare-form"));
  const uk = String(data.get("message_uk") || "").trim();
  const en = String(data.get("message_en") || "").trim();
  return {
    threat: String(data.get("threat")),
    level: String(data.get("level")),
    threats: data.getAll("kind").map(String),
    message: uk || en ? { ...(uk ? { uk } : {}), ...(en ? { en } : {}) } : null,
  };
}

function declareBody() {
  const { threat, level, threats, message } = formValues();
  const body = { regions: [...picked], threat, level, threats };
  if (message) body.message = message;
  return body;
}

// The picked regions that already have an active alert of this threat type.
function alreadyActive(threat) {
  const found = new Map();
  for (const a of state.active((x) => x.threat === threat && picked.has(x.region_id))) found.set(a.region_id, a);
  return found;
}

function unitsText(n) {
  return t("console.regions_n", { n });
}

// The button says what pressing it does.
function describeDeclare() {
  const { threat, level } = formValues();
  const button = $("declare");
  button.dataset.level = level;
  button.textContent = picked.size
    ? t(`console.declare_${level}`, { threat: t(`threat.${threat}`).toLocaleLowerCase(lang), what: unitsText(picked.size) })
    : t("console.declare");
  const active = alreadyActive(threat);
  const note = $("picked-active");
  note.hidden = active.size === 0;
  if (active.size) {
    const names = [...active.values()].map((a) => `${nameFor(a.region_id)} (${t(`level.${a.level}_short`)})`);
    note.textContent = t("console.already_active", { n: active.size, names: names.join(", ") });
  }
  for (const li of $("picked-list").children) {
    const a = active.get(li.dataset.regionId);
    li.dataset.active = a ? a.level : "";
  }
}

// -- picking -----------------------------------------------------------------------------

function toggle(id) {
  const refused = $("pick-refused");
  if (!inScope(id)) {
    refused.hidden = false;
    refused.textContent = t("console.refused", { name: nameFor(id) });
    return false;
  }
  refused.hidden = true;
  if (picked.has(id)) picked.delete(id);
  else picked.add(id);
  pending = null;
  renderPicked();
  map.repaint();
  return true;
}

function renderPicked() {
  $("picked-list").replaceChildren(
    ...[...picked].map((id) => {
      const li = el("li");
      li.dataset.regionId = id;
      li.append(el("span", "chip-name", nameFor(id)), el("span", "chip-active", t("console.active_mark")));
      const remove = el("button", "", "×");
      remove.type = "button";
      remove.setAttribute("aria-label", t("console.unpick", { name: nameFor(id) }));
      remove.addEventListener("click", () => toggle(id));
      li.append(remove);
      return li;
    }),
  );
  $("picked-count").textContent = String(picked.size);
  $("clear-picked").disabled = picked.size === 0;
  describeDeclare();
}

function bindPicker() {
  const input = $("pick-search");
  const list = $("pick-results");
  input.addEventListener("input", () => {
    const found = regions.search(input.value, { limit: 12 });
    list.replaceChildren(
      ...found.map((region) => {
        const li = el("li");
        li.tabIndex = 0;
        li.dataset.regionId = region.id;
        const allowed = inScope(region.id);
        li.append(el("span", "", nameOf(region)), el("span", "opt-where", allowed ? t(`level.${region.kind}`) : t("console.out_of_scope")));
        if (!allowed) li.setAttribute("aria-disabled", "true");
        const choose = () => {
          if (toggle(region.id)) {
            input.value = "";
            list.replaceChildren();
          }
          input.focus(); // the chosen result is gone: keyboard work goes on in the search
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
  input.addEventListener("keydown", (e) => {
    if (e.key === "ArrowDown" && list.firstElementChild) {
      e.preventDefault();
      list.firstElementChild.focus();
    }
  });
  list.addEventListener("keydown", (e) => {
    const item = e.target.closest("li");
    if (e.key === "ArrowDown") item?.nextElementSibling?.focus();
    else if (e.key === "ArrowUp") (item?.previousElementSibling || input).focus();
    else if (e.key === "Escape") input.focus();
    else return;
    e.preventDefault();
  });
}

// -- declaring ---------------------------------------------------------------------------

function oblastsCovered(ids) {
  if ([...ids].some((id) => regions.get(id)?.level === "country")) return pageData.oblast_count;
  return new Set([...ids].map((id) => regions.oblastOf(id)).filter(Boolean)).size;
}

function confirmDeclare(body) {
  const covered = oblastsCovered(picked);
  const active = alreadyActive(body.threat);
  const names = [...picked].map(nameFor);
  const what = [
    [t("console.threat_type"), t(`threat.${body.threat}`)],
    [t("console.level"), t(`level.${body.level}`)],
    [t("console.kinds"), body.threats.length ? body.threats.map((k) => t(`kind.${k}`)).join(", ") : t("console.none")],
    [t("console.message"), body.message ? [body.message.uk, body.message.en].filter(Boolean).join(" / ") : t("console.none")],
    [t("console.regions_title", { n: picked.size }), names.join(", ")],
  ];
  if (active.size) what.push([t("console.already_title"), [...active.keys()].map(nameFor).join(", ")]);
  const warn = covered * 2 > pageData.oblast_count ? t("console.confirm_title", { n: covered, total: pageData.oblast_count }) : "";
  return confirmDialog($("declare").textContent, t("console.confirm_ok"), {
    what, warn, text: active.size ? t("console.already_text") : "",
  });
}

function resetForm() {
  $("declare-form").reset();
  picked.clear();
  pending = null;
  renderPicked();
  map.repaint();
}

async function declare(event) {
  event.preventDefault();
  const result = $("declare-result");
  if (!picked.size) return say(result, t("console.need_regions"), "error");
  const body = declareBody();
  if (!(await confirmDeclare(body))) return;
  const before = new Map(state.active((a) => a.threat === body.threat).map((a) => [a.id, a]));
  const text = JSON.stringify(body);
  if (!pending || pending.text !== text) pending = { text, key: crypto.randomUUID() };
  const button = $("declare");
  button.disabled = true;
  try {
    const answer = await api("POST", "/api/v1/alerts", body, pending.key);
    if (answer.status === 202 && answer.data.pending) {
      // the two-person rule: held until another administrator confirms it
      const held = answer.data.pending;
      say(result, t("console.held", { n: held.oblasts, until: clock(new Date(held.expires_at)) }), "ok");
      resetForm();
      refreshHeld();
    } else if (answer.ok) {
      showOutcome(declareOutcome(before, answer.data.alerts, body, me.name), body, answer.data.seq);
      resetForm();
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

// What happened, region by region, and an offer to bring the untouched ones up to date.
function showOutcome(outcome, body, seq) {
  const result = $("declare-result");
  result.dataset.kind = outcome.new.length || outcome.raised.length ? "ok" : "warn";
  const parts = [];
  for (const key of ["new", "raised", "untouched"]) {
    const alerts = outcome[key];
    if (!alerts.length) continue;
    const p = el("p", `outcome outcome-${key}`);
    p.dataset.outcome = key;
    p.append(el("strong", "", t(`console.outcome.${key}`, { n: alerts.length })), " ", alerts.map((a) => nameFor(a.region_id)).join(", "));
    parts.push(p);
  }
  parts.push(el("p", "note", t("console.outcome.seq", { seq })));
  const stale = outcome.stale(body);
  if (stale.length) {
    parts.push(el("p", "note", t("console.outcome.not_applied", { n: stale.length })));
    const update = el("button", "btn btn-small", t("console.outcome.update", { n: stale.length }));
    update.type = "button";
    update.id = "update-active";
    update.addEventListener("click", () => updateAlerts(stale, outcome.patch(body), update));
    parts.push(update);
  }
  result.replaceChildren(...parts);
}

async function updateAlerts(alerts, patch, button) {
  button.disabled = true;
  let done = 0;
  const errors = [];
  for (const a of alerts) {
    const answer = await api("PATCH", `/api/v1/alerts/${a.id}`, patch, crypto.randomUUID()).catch(() => null);
    if (!answer) errors.push(t("console.network"));
    else if (answer.ok) done += 1;
    else errors.push(`${nameFor(a.region_id)}: ${problemText(answer.data)}`);
  }
  const line = el("p", errors.length ? "form-error" : "outcome outcome-updated", errors.length
    ? t("console.failed", { detail: errors.join("; ") })
    : t("console.updated", { n: done }));
  line.id = "update-result";
  button.replaceWith(line);
  refreshEvents();
}

// -- editing an active alert ------------------------------------------------------------------

async function editAlert(alert) {
  const body = await askEdit(alert, t("console.edit_title", { name: nameFor(alert.region_id), threat: t(`threat.${alert.threat}`) }));
  if (!body) return;
  const answer = await api("PATCH", `/api/v1/alerts/${alert.id}`, body, crypto.randomUUID()).catch(() => null);
  const result = $("clear-result");
  if (!answer) say(result, t("console.network"), "error");
  else if (answer.ok) say(result, t("console.updated", { n: 1 }), "ok");
  else say(result, t("console.failed", { detail: problemText(answer.data) }), "error");
  refreshEvents();
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
  const ok = await confirmDialog(t("console.confirm_clear_title"), t("console.confirm_clear_ok"), {
    text: t("console.confirm_clear_text", { n }),
  });
  if (ok) await clearRegions(me.scope);
}

// -- showing -------------------------------------------------------------------------------

const SHOWN_AT_MOST = 200; // a filter finds the rest: the list stays a list, not 5,000 px

function matches(alert, query) {
  if (!query) return true;
  const oblast = regions.oblastOf(alert.region_id);
  const text = `${nameFor(alert.region_id)} ${oblast ? nameFor(oblast) : ""} ${t(`threat.${alert.threat}`)}`;
  return text.toLocaleLowerCase(lang).includes(query);
}

function actionsFor(a) {
  const wrap = el("p", "alert-actions");
  const edit = el("button", "btn btn-small", t("console.edit"));
  edit.type = "button";
  edit.setAttribute("aria-label", t("console.edit_one", { name: nameFor(a.region_id) }));
  edit.addEventListener("click", () => editAlert(a));
  const clear = el("button", "btn btn-small", t("console.clear"));
  clear.type = "button";
  clear.setAttribute("aria-label", t("console.clear_one", { name: nameFor(a.region_id) }));
  clear.addEventListener("click", () => clearAlert(a));
  wrap.append(edit, clear);
  return wrap;
}

function render() {
  if (!regions) return;
  map.paint(state.colouring(regions));
  if (!me) return;
  const all = newestFirst(scopeAlerts());
  const query = $("scope-filter").value.trim().toLocaleLowerCase(lang);
  const found = all.filter((a) => matches(a, query));
  const shown = found.slice(0, SHOWN_AT_MOST);
  $("scope-alerts").replaceChildren(...shown.map((a) => alertItem(a, regions, { compact: true, actions: actionsFor })));
  $("scope-count").textContent = String(all.length);
  $("scope-empty").hidden = all.length > 0;
  const note = $("scope-shown");
  note.hidden = shown.length === all.length;
  note.textContent = t("console.shown", { n: shown.length, total: all.length });
  tick($("scope-alerts"));
  describeDeclare();
}

// -- declares held for a second person (--confirm-over) -------------------------------------

async function refreshHeld() {
  if (!token) return;
  const answer = await api("GET", "/api/v1/pending?limit=20").catch(() => null);
  if (!answer || !answer.ok) return;
  const waiting = answer.data.pending.filter((p) => p.status === "pending");
  $("held-card").hidden = waiting.length === 0;
  $("held-list").replaceChildren(...waiting.map(heldItem));
}

function heldItem(held) {
  const li = el("li");
  li.dataset.pendingId = held.id;
  li.append(
    el("span", "held-what", t("console.held_item", {
      who: held.requester,
      n: held.oblasts,
      threat: t(`threat.${held.threat}`),
      level: t(`level.${held.level}_short`),
      until: clock(new Date(held.expires_at)),
    })),
  );
  const mine = held.requester === me.name;
  if (me.role === "admin" && !mine) {
    const confirm = el("button", "btn btn-danger", t("console.held_confirm"));
    confirm.type = "button";
    confirm.addEventListener("click", () => decideHeld(held, "confirm", confirm));
    li.append(confirm);
  } else if (mine) {
    li.append(el("span", "note", t("console.held_own")));
  }
  if (mine || me.role === "admin") {
    const cancel = el("button", "btn btn-quiet", t("console.held_cancel"));
    cancel.type = "button";
    cancel.addEventListener("click", () => decideHeld(held, "cancel", cancel));
    li.append(cancel);
  }
  return li;
}

async function decideHeld(held, what, button) {
  const result = $("held-result");
  button.disabled = true;
  try {
    const answer = await api("POST", `/api/v1/pending/${encodeURIComponent(held.id)}/${what}`);
    if (!answer.ok) say(result, t("console.failed", { detail: problemText(answer.data) }), "error");
    else if (what === "confirm") say(result, t("console.held_confirmed", { seq: answer.data.seq }), "ok");
    else say(result, t("console.held_cancelled"), "ok");
  } catch {
    say(result, t("console.network"), "error");
  } finally {
    button.disabled = false;
    refreshHeld();
    refreshEvents();
  }
}

async function refreshEvents() {
  if (!token) return;
  const answer = await api("GET", "/api/v1/me/events?limit=20").catch(() => null);
  if (!answer || !answer.ok) return;
  const events = answer.data.events;
  $("my-events").replaceChildren(
    ...events.map((e) => {
      const li = el("li");
      const when = el("time", "", clock(new Date(e.at)));
      when.dateTime = e.at;
      li.append(when, el("span", "ev-type", t(`console.event.${e.type}`)), `${nameFor(e.alert.region_id)} · ${t(`threat.${e.alert.threat}`)}`);
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
    outline: false, // picks are marked on the shapes themselves (data-picked)
    onPick: (id) => toggle(id),
    describe: (id, look, alerts) => `${describeLook(regions, id, look, alerts)}${inScope(id) ? "" : ` (${t("console.out_of_scope")})`}`,
    shapeAttrs: (id) => ({ scope: me && !inScope(id) ? "out" : "in", picked: String(picked.has(id)) }),
  });
  document.querySelectorAll(`input[name="${LEVEL_CONTROL}"]`).forEach((radio) =>
    radio.addEventListener("change", () => map.setLevel(radio.value, { chosen: true })),
  );
  bindPicker();
  $("signin-form").addEventListener("submit", (e) => {
    e.preventDefault();
    signIn($("token").value.trim());
  });
  $("signout").addEventListener("click", signOut);
  $("declare-form").addEventListener("submit", declare);
  $("declare-form").addEventListener("change", describeDeclare);
  $("scope-filter").addEventListener("input", render);
  $("clear-picked").addEventListener("click", () => clearRegions([...picked]));
  $("clear-all").addEventListener("click", clearAll);
  render();
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) await signIn(saved);
}

main().catch((error) => console.error(error));
