// Notifications the open page shows itself: the region page's bell and my place's card
// where the browser cannot take Web Push (no push service behind the API, or no API).
// One rule for both pages: a notification when the region goes under alert, changes
// between yellow and red, or is cleared; none for "partial" <-> "clear". (With Web Push,
// the server's notices say more, from web/notice.py.)

import { pageData, t } from "./i18n.js";

// "clear", "partial", "alert-red" or "alert-yellow": what a change is measured between.
export const lookKey = (look) => (look.state === "alert" ? `alert-${look.level}` : look.state);

// Whether a change from `before` to `now` (lookKey values) is news: into, within or out of
// an alert. `before` null is the first look: never news.
export const isNews = (before, now) =>
  before !== null && before !== now && (now.startsWith("alert") || before.startsWith("alert"));

// The notification for region `id` (named `name`), now under alert or not (`covering`: the
// alerts that put it under alert).
export function showNotice(id, name, isAlert, covering) {
  const title = isAlert ? t("region.notify_title_alert", { name }) : t("region.notify_title_clear", { name });
  const body = isAlert ? [...new Set(covering.map((a) => t(`threat.${a.threat}`)))].join(", ") : "";
  new Notification(title, { body, tag: id, lang: pageData.lang });
}
