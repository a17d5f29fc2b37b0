// The region page's last 90 days, from GET /api/v1/stats: bars drawn as SVG, with the same
// numbers in a table for screen readers and for anyone who wants them exactly.

import { day, duration, lang, t } from "./i18n.js";

const SVG_NS = "http://www.w3.org/2000/svg";
const DAYS = 90;

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function bars(series, value, { title, unit, className }) {
  const width = 720;
  const height = 150;
  const left = 34;
  const bottom = 20;
  const max = Math.max(1, ...series.map(value));
  const step = (width - left) / series.length;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title });
  chart.append(svg("line", { x1: left, x2: width, y1: height - bottom, y2: height - bottom, class: "axis" }));
  chart.append(svg("text", { x: left - 6, y: 10, "text-anchor": "end" }, String(Math.round(max))));
  chart.append(svg("text", { x: left - 6, y: height - bottom, "text-anchor": "end" }, "0"));
  series.forEach((point, i) => {
    const v = value(point);
    const h = ((height - bottom - 6) * v) / max;
    const rect = svg("rect", {
      x: (left + i * step + step * 0.12).toFixed(1), y: (height - bottom - h).toFixed(1),
      width: (step * 0.76).toFixed(1), height: h.toFixed(1), rx: 1.5, class: className,
    });
    rect.append(svg("title", {}, `${day(new Date(`${point.bucket}T12:00:00Z`))}: ${Math.round(v)} ${unit}`));
    chart.append(rect);
    if (i % 15 === 0) {
      chart.append(svg("text", { x: (left + i * step).toFixed(1), y: height - 4 }, day(new Date(`${point.bucket}T12:00:00Z`))));
    }
  });
  const figure = document.createElement("figure");
  figure.className = "chart";
  const caption = document.createElement("figcaption");
  caption.className = "chart-title";
  caption.textContent = title;
  figure.append(caption, chart);
  return figure;
}

function table(series) {
  const details = document.createElement("details");
  const summary = document.createElement("summary");
  summary.textContent = t("stats.table");
  const tbl = document.createElement("table");
  tbl.className = "history";
  const head = tbl.createTHead().insertRow();
  for (const key of ["stats.day", "stats.alerts", "stats.minutes"]) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = t(key);
    head.append(th);
  }
  const body = tbl.createTBody();
  for (const point of series) {
    const row = body.insertRow();
    row.insertCell().textContent = point.bucket;
    row.insertCell().textContent = String(point.count);
    row.insertCell().textContent = String(Math.round(point.seconds / 60));
  }
  details.append(summary, tbl);
  return details;
}

export async function renderCharts(box, regionId) {
  const since = new Date(Date.now() - (DAYS - 1) * 86400e3).toISOString().slice(0, 10);
  const query = new URLSearchParams({ region: regionId, since, by: "day" });
  let stats;
  try {
    const response = await fetch(`/api/v1/stats?${query}`);
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    stats = await response.json();
  } catch {
    box.replaceChildren(Object.assign(document.createElement("p"), { className: "muted", textContent: t("stats.unavailable") }));
    return;
  }
  const series = stats.series || [];
  const share = new Intl.NumberFormat(lang, { style: "percent", maximumFractionDigits: 1 }).format(stats.share || 0);
  const line = document.createElement("p");
  line.textContent = t("stats.summary", {
    n: stats.count, duration: duration(stats.total_seconds), share, longest: duration(stats.longest_seconds),
  });
  box.replaceChildren(
    line,
    bars(series, (p) => p.count, { title: t("stats.per_day"), unit: t("stats.alerts"), className: "bar" }),
    bars(series, (p) => p.seconds / 60, { title: t("stats.minutes_per_day"), unit: t("stats.minutes"), className: "bar-alt" }),
    table(series),
  );
}
