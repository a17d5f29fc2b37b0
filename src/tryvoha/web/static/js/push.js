// Notifications that reach a closed tab (Web Push). This browser subscribes once, through
// its push service, with the server's VAPID key; the server keeps that subscription with
// the regions it follows and the page's language (POST /api/v1/push/subscriptions), and
// the service worker (/sw.js) shows what arrives. The opt-in is remembered here (the
// regions, and the endpoint they were sent with) and kept true to what the browser has
// on every visit (`syncPush`). Turning the last region off unsubscribes the browser.
//
// Some browsers have the API but no push service behind it: Chromium's incognito windows
// and builds without Google's servers (Debian's chromium) refuse the subscription, or never
// answer. That is `PushUnavailable`; the pages then notify while they are open instead.

import { lang, pageData } from "./i18n.js";

const KEY = "tryvoha.push";
const API = "/api/v1/push/subscriptions";

export class PushDenied extends Error {}
export class PushUnavailable extends Error {}

export const pushSupported = () =>
  Boolean(pageData.push_key) &&
  window.isSecureContext &&
  "serviceWorker" in navigator &&
  "PushManager" in window &&
  "Notification" in window;

function saved() {
  try {
    const state = JSON.parse(localStorage.getItem(KEY));
    return state && Array.isArray(state.regions) ? state : null;
  } catch {
    return null;
  }
}

function save(state) {
  try {
    if (state && state.regions.length) localStorage.setItem(KEY, JSON.stringify(state));
    else localStorage.removeItem(KEY);
  } catch {
    /* private mode: the opt-in lasts as long as the page */
  }
}

export const pushedRegions = () => saved()?.regions || [];
export const isPushed = (id) => pushedRegions().includes(id);

function keyBytes(key) {
  const text = atob(key.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (key.length % 4)) % 4));
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

async function registration() {
  await navigator.serviceWorker.register("/sw.js", { scope: "/" });
  return navigator.serviceWorker.ready;
}

const SUBSCRIBE_MS = 15_000; // a browser whose push service cannot be reached may never answer
let unavailable = null; // this browser's PushUnavailable, once seen: not asked again by this page

// This browser's subscription, made through its push service when there is none yet.
async function subscription(reg) {
  const found = await reg.pushManager.getSubscription();
  if (found) return found;
  if (unavailable) throw unavailable;
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new PushUnavailable("the browser's push service did not answer")), SUBSCRIBE_MS);
  });
  const made = reg.pushManager
    .subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(pageData.push_key) })
    .catch((error) => {
      throw new PushUnavailable(`${error.name}: ${error.message}`);
    });
  try {
    return await Promise.race([made, late]);
  } catch (error) {
    if (error instanceof PushUnavailable) unavailable = error;
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

async function send(sub, regions, replaces = null) {
  const body = { subscription: sub.toJSON(), regions, lang, ...(replaces ? { replaces } : {}) };
  const answer = await fetch(API, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const found = await answer.json().catch(() => ({}));
  if (!answer.ok) throw new Error(found.detail || `HTTP ${answer.status}`);
  save({ endpoint: sub.endpoint, regions: found.regions });
  return found.regions;
}

// Follow region `id` as well. Called from a click: the browser asks for permission then.
export async function follow(id) {
  const permission = await Notification.requestPermission();
  if (permission !== "granted") throw new PushDenied(permission);
  const sub = await subscription(await registration());
  return send(sub, [...new Set([...pushedRegions(), id])]);
}

// Stop following region `id`; with none left, unsubscribe this browser altogether.
export async function unfollow(id) {
  const regions = pushedRegions().filter((r) => r !== id);
  const reg = await navigator.serviceWorker.getRegistration("/");
  const sub = reg ? await reg.pushManager.getSubscription() : null;
  if (sub && regions.length) return send(sub, regions);
  if (sub) {
    await fetch(API, {
      method: "DELETE",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ endpoint: sub.endpoint }),
    });
    await sub.unsubscribe();
  }
  save(null);
  return [];
}

// On every visit of someone who opted in: the browser may have dropped its subscription
// (site data cleared) or been given a new endpoint; subscribe again while permission
// lasts, and forget the opt-in when it was withdrawn.
export async function syncPush() {
  const state = saved();
  if (!state || !pushSupported()) return;
  if (Notification.permission !== "granted") {
    save(null);
    return;
  }
  const sub = await subscription(await registration());
  if (sub.endpoint !== state.endpoint) await send(sub, state.regions, state.endpoint);
}
