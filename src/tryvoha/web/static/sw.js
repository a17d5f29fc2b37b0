// The service worker: it shows what the server pushes (an alert, an update, the all-clear)
// even when no tab of the site is open. Served at /sw.js so that its scope is the whole
// site; a classic script with no imports (a service worker has no import map).
//
// A message is the JSON of tryvoha.web.notice: title, body, tag (the alert's id: a later
// event of the same alert replaces its notification), url (the region's page), seq.
// The same event sent twice (a server restarted before it recorded the first send) is
// recognised by its seq and not shown again while its notification is still there.

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("push", (event) => event.waitUntil(show(event.data)));

async function show(data) {
  let notice = null;
  try {
    notice = data ? data.json() : null;
  } catch {
    notice = null;
  }
  if (!notice || !notice.title) {
    // A push must show something (userVisibleOnly): say only that something changed.
    return self.registration.showNotification(self.location.host, { body: data ? data.text() : "" });
  }
  const shown = await self.registration.getNotifications({ tag: notice.tag });
  if (shown.some((n) => (n.data && n.data.seq) >= notice.seq)) return undefined; // a repeat
  await self.registration.showNotification(notice.title, {
    body: notice.body,
    tag: notice.tag,
    lang: notice.lang,
    renotify: true,
    requireInteraction: Boolean(notice.urgent),
    timestamp: Date.parse(notice.at) || Date.now(),
    data: { url: notice.url, seq: notice.seq, id: notice.id, type: notice.type },
  });
  return undefined;
}

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = new URL((event.notification.data && event.notification.data.url) || "/", self.location.origin);
  event.waitUntil(openPage(url.href));
});

async function openPage(href) {
  for (const client of await self.clients.matchAll({ type: "window", includeUncontrolled: true })) {
    if (client.url === href && "focus" in client) return client.focus();
  }
  return self.clients.openWindow(href);
}

// The push service gave this browser a new endpoint: tell the server, which moves the
// regions the old one followed to the new one.
self.addEventListener("pushsubscriptionchange", (event) => event.waitUntil(renew(event)));

async function renew(event) {
  const old = event.oldSubscription;
  let fresh = event.newSubscription;
  if (!fresh && old && old.options) fresh = await self.registration.pushManager.subscribe(old.options);
  if (!fresh || !old) return;
  await fetch("/api/v1/push/subscriptions", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ subscription: fresh.toJSON(), replaces: old.endpoint }),
  });
}
