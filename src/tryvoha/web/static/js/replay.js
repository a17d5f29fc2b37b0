// The demo's replay clock: the replayed date and time, first + (now - anchor) x speed,
// as `tryvoha demo` keeps to it (tryvoha.config.ReplayClock).

import { lang, t, timeZone } from "./i18n.js";

const banner = document.getElementById("replay");
const clock = document.getElementById("replay-clock");
const format = new Intl.DateTimeFormat(lang, {
  timeZone, day: "numeric", month: "long", year: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
});

export function replayedAt(now, { first, last, anchor, speed }) {
  return Math.min(last, first + Math.max(0, now - anchor) * speed);
}

function show() {
  const times = {
    first: Date.parse(banner.dataset.first),
    last: Date.parse(banner.dataset.last),
    anchor: Date.parse(banner.dataset.anchor),
    speed: Number(banner.dataset.speed),
  };
  const at = replayedAt(Date.now(), times);
  const text = format.format(new Date(at));
  clock.textContent = at >= times.last ? t("replay.done", { time: text }) : text;
  clock.dateTime = new Date(at).toISOString();
}

if (banner && clock) {
  show();
  setInterval(show, 1000);
}
