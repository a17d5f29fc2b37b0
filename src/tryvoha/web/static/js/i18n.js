// The page's language: the catalogue the server sent with the page, plural forms from
// Intl.PluralRules (CLDR, the same rules tryvoha.i18n uses), times in the country's zone.

const catalogue = JSON.parse(document.getElementById("catalogue").textContent);
export const pageData = JSON.parse(document.getElementById("page-data").textContent);
export const lang = pageData.lang || document.documentElement.lang || "uk";
export const timeZone = pageData.time_zone || "Europe/Kyiv";

const plurals = new Intl.PluralRules(lang);
const clockFormat = new Intl.DateTimeFormat(lang, { timeZone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
const secondsFormat = new Intl.DateTimeFormat(lang, {
  timeZone, hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
});
const dayFormat = new Intl.DateTimeFormat(lang, { timeZone, day: "numeric", month: "short" });
const dateFormat = new Intl.DateTimeFormat("en-GB", { timeZone, day: "2-digit", month: "2-digit", year: "numeric" });

export function t(key, params = {}) {
  let entry = catalogue[key];
  if (entry === undefined) return key;
  if (typeof entry === "object") {
    const form = plurals.select(Number(params.n ?? 0));
    entry = entry[form] ?? entry.other;
  }
  return entry.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}

export const clock = (date) => clockFormat.format(date);
export const clockSeconds = (date) => secondsFormat.format(date);
export const day = (date) => dayFormat.format(date);
export const dateText = (date) => dateFormat.format(date).replaceAll("/", ".");

// A start time as the lists write it: the clock today, the date and clock before
// (tryvoha.web.present.since_text).
export function sinceText(iso, now = Date.now()) {
  const start = new Date(iso);
  const date = dateText(start);
  return date === dateText(new Date(now)) ? clock(start) : `${date} ${clock(start)}`;
}

// "12 хв", "1 год 05 хв", "2 д 3 год": the same as tryvoha.web.present.duration_text.
export function duration(seconds) {
  let minutes = Math.max(Math.floor(seconds / 60), 0);
  if (minutes < 60) return t("time.minutes", { m: minutes, n: minutes });
  let hours = Math.floor(minutes / 60);
  minutes %= 60;
  if (hours < 24) return t("time.hours_minutes", { h: hours, m: String(minutes).padStart(2, "0") });
  const days = Math.floor(hours / 24);
  hours %= 24;
  return t("time.days_hours", { d: days, h: hours });
}

// Full name in the page's language; the short one for map labels (tryvoha.web.names).
export const nameOf = (region, language = lang) => (region ? region[language] || region.en : "");
export const shortOf = (region, language = lang) => (region ? region[`short_${language}`] || region.short_en : "");
