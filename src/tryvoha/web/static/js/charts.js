// The region page's history in numbers, from GET /api/v1/stats: a period picker (90 days,
// a year, everything since 2022, by hour of the day), bars drawn as SVG at the width the
// page has (readable on a 390 px phone), the same numbers in a table and as CSV, and a
// sentence saying why a window is empty when it is.

import { dateText, duration, lang, pageData, t } from "./i18n.js";

const SVG_NS = "http://www.w3.org/2000/svg";
const FIRST_DAY = "2022-02-24"; // the full-scale invasion: where "everything" starts
const DAY_MS = 86400e3;
const LABEL_GAP_PX = 64; // the least room between two labels of the x axis
const monthFormat = new Intl.DateTimeFormat(lang, { month: "short", year: "2-digit", timeZone: "UTC" });
const dayFormat = new Intl.DateTimeFormat(lang, { day: "numeric", month: "short", timeZone: "UTC" });

function isoDay(ms) {
  return new Date(ms).toISOString().slice(0, 10);
}

// The query and the bucket labels of each period.
export const PERIODS = {
  "90d": { since: () => isoDay(Date.now() - 89 * DAY_MS), by: "day" },
  year: { since: () => isoDay(Date.now() - 364 * DAY_MS), by: "month" },
  all: { since: () => FIRST_DAY, by: "month" },
  hours: { since: () => FIRST_DAY, by: "hour" },
};

function bucketLabel(bucket, by) {
  if (by === "day") return dayFormat.format(new Date(`${bucket}T12:00:00Z`));
  if (by === "month") return monthFormat.format(new Date(`${bucket}-15T12:00:00Z`));
  if (by === "hour") return `${bucket}:00`;
  return bucket;
}

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function bars(series, value, { title, unit, className, by, width }) {
  const height = 160;
  const left = 40;
  const bottom = 22;
  const max = Math.max(1, ...series.map(value));
  const step = (width - left) / Math.max(series.length, 1);
  const every = Math.max(1, Math.ceil(LABEL_GAP_PX / step));
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title, class: "chart-svg" });
  chart.append(svg("line", { x1: left, x2: width, y1: height - bottom, y2: height - bottom, class: "axis" }));
  chart.append(svg("text", { x: left - 6, y: 12, "text-anchor": "end" }, String(Math.round(max))));
  chart.append(svg("text", { x: left - 6, y: height - bottom, "text-anchor": "end" }, "0"));
  series.forEach((point, i) => {
    const v = value(point);
    const h = ((height - bottom - 8) * v) / max;
    const rect = svg("rect", {
      x: (left + i * step + step * 0.12).toFixed(1), y: (height - bottom - h).toFixed(1),
      width: Math.max(step * 0.76, 0.5).toFixed(1), height: h.toFixed(1), rx: 1.5, class: className,
    });
    rect.append(svg("title", {}, `${bucketLabel(point.bucket, by)}: ${Math.round(v)} ${unit}`));
    chart.append(rect);
    if (i % every === 0) chart.append(svg("text", { x: (left + i * step).toFixed(1), y: height - 5 }, bucketLabel(point.bucket, by)));
  });
  const figure = document.createElement("figure");
  figure.className = "chart";
  const caption = document.createElement("figcaption");
  caption.className = "chart-title";
  caption.textContent = title;
  figure.append(caption, chart);
  return figure;
}

function csvOf(series, by) {
  const rows = [[by, "alerts", "minutes"], ...series.map((p) => [p.bucket, p.count, Math.round(p.seconds / 60)])];
  return `${rows.map((r) => r.join(",")).join("\n")}\n`;
}

function table(series, by) {
  const details = document.createElement("details");
  const summary = document.createElement("summary");
  summary.textContent = t("stats.table");
  const wrap = document.createElement("div");
  wrap.className = "table-wrap";
  const tbl = document.createElement("table");
  tbl.className = "history";
  const head = tbl.createTHead().insertRow();
  for (const key of [`stats.bucket.${by}`, "stats.alerts", "stats.minutes"]) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = t(key);
    head.append(th);
  }
  const body = tbl.createTBody();
  for (const point of series) {
    const row = body.insertRow();
    row.insertCell().textContent = bucketLabel(point.bucket, by);
    row.insertCell().textContent = String(point.count);
    row.insertCell().textContent = String(Math.round(point.seconds / 60));
  }
  wrap.append(tbl);
  details.append(summary, wrap);
  return details;
}

function csvLink(series, by, regionId, period) {
  const link = document.createElement("a");
  link.className = "btn btn-small";
  link.id = "stats-csv";
  link.textContent = t("stats.csv");
  link.download = `tryvoha-${regionId}-${period}.csv`;
  link.href = URL.createObjectURL(new Blob([csvOf(series, by)], { type: "text/csv" }));
  return link;
}

function note(text) {
  return Object.assign(document.createElement("p"), { className: "stats-note", textContent: text });
}

// Why the numbers are what they are: nothing in the window, or no imported record to
// draw on, or a record that knows only oblasts.
function explain(stats, regionLevel) {
  const notes = [];
  const records = stats.history || [];
  if (!stats.count) {
    notes.push(records.length ? t("stats.empty") : t("stats.empty_no_record"));
  }
  if (records.some((r) => r.issuer === "history:consolidated") && regionLevel !== "oblast") {
    notes.push(t("stats.consolidated"));
  }
  return notes.map(note);
}

export async function renderCharts(box, regionId, period = "90d") {
  const { since, by } = PERIODS[period];
  const query = new URLSearchParams({ region: regionId, since: since(), by });
  let stats;
  try {
    const response = await fetch(`/api/v1/stats?${query}`);
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    stats = await response.json();
  } catch {
    box.replaceChildren(note(t("stats.unavailable")));
    return;
  }
  const series = stats.series || [];
  const width = Math.max(300, Math.round(box.clientWidth || 720));
  const share = new Intl.NumberFormat(lang, { style: "percent", maximumFractionDigits: 1 }).format(stats.share || 0);
  const line = document.createElement("p");
  line.textContent = t("stats.summary", {
    n: stats.count, duration: duration(stats.total_seconds), share, longest: duration(stats.longest_seconds),
    since: dateText(new Date(stats.since)),
  });
  const level = pageData.region_level || "";
  const per = by === "hour" ? "hour" : by;
  box.dataset.period = period;
  box.replaceChildren(
    line,
    ...explain(stats, level),
    bars(series, (p) => p.count, { title: t(`stats.per_${per}`), unit: t("stats.alerts"), className: "bar", by, width }),
    bars(series, (p) => p.seconds / 60, { title: t(`stats.minutes_per_${per}`), unit: t("stats.minutes"), className: "bar-alt", by, width }),
    table(series, by),
    csvLink(series, by, regionId, period),
  );
}

export function bindPeriods(fieldset, box, regionId) {
  const chosen = () => fieldset?.querySelector("input:checked")?.value || "90d";
  fieldset?.addEventListener("change", () => renderCharts(box, regionId, chosen()));
  return renderCharts(box, regionId, chosen());
}
