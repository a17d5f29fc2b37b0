// Saying honestly whether what the page shows is live: the header pill, the grey veil
// over the map and the notes on the lists while the stream is down.

import { clockSeconds, t } from "./i18n.js";

export function showStatus(status, stream) {
  const pill = document.getElementById("conn");
  const text = pill?.querySelector(".conn-text");
  const heard = new Date(stream.lastHeard);
  const secondsLeft = Math.max(0, Math.ceil((stream.retryAt - Date.now()) / 1000));
  if (pill) {
    pill.dataset.conn = status;
    text.textContent =
      status === "live" ? t("conn.live") : status === "offline" ? t("conn.offline") : t("conn.connecting");
    pill.title = status === "offline" ? t("conn.offline_since", { time: clockSeconds(heard) }) : "";
  }
  const offline = status === "offline";
  document.body.classList.toggle("is-offline", offline);
  const frame = document.getElementById("map-frame");
  if (frame) frame.dataset.stale = String(offline);
  const veil = document.getElementById("map-stale");
  if (veil) {
    veil.hidden = !offline;
    const detail = document.getElementById("map-stale-text");
    if (detail) {
      detail.textContent = `${t("conn.offline_since", { time: clockSeconds(heard) })} ${
        secondsLeft ? t("conn.retry_in", { n: secondsLeft }) : t("conn.retrying")
      }`;
    }
  }
  for (const note of document.querySelectorAll(".stale-note")) note.hidden = !offline;
}

export function bindRetry(stream) {
  document.getElementById("retry-now")?.addEventListener("click", () => stream.retryNow());
}
