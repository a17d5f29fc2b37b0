// One region's "now": every threat type under alert there with its level, since when,
// what is coming and the issuers' messages, then what to do. The region page's card and
// the map page's "my place" draw it alike (templates/region.html, tryvoha.web.region).

import { el, kindsList, kindsOf, messageOf } from "./alerts.js";
import { sinceText, t } from "./i18n.js";
import { adviceKeys, THREAT_ORDER } from "./state.js";

export function threatLines(alerts) {
  const lines = [];
  for (const threat of THREAT_ORDER) {
    const ofType = alerts.filter((a) => a.threat === threat);
    if (!ofType.length) continue;
    const first = ofType.map((a) => a.started_at).sort()[0];
    lines.push({
      threat,
      level: ofType.some((a) => a.level === "red") ? "red" : "yellow",
      since: sinceText(first),
      kinds: kindsOf(ofType),
      messages: [...new Set(ofType.map(messageOf).filter(Boolean))],
    });
  }
  return lines;
}

export function threatLineItems(lines) {
  return lines.map((line) => {
    const li = el("li");
    Object.assign(li.dataset, { threat: line.threat, level: line.level, state: "alert" });
    const head = el("p", "tl-head");
    const dot = el("span", "dot");
    dot.setAttribute("aria-hidden", "true");
    head.append(dot, el("strong", "", t(`threat.${line.threat}`)));
    if (line.level === "yellow") head.append(" · ", el("span", "alert-level", t("level.yellow_short")));
    head.append(" ", el("span", "tl-since", `${t("time.since")} ${line.since}`));
    li.append(head);
    if (line.kinds.length) li.append(kindsList(line.kinds));
    for (const m of line.messages) li.append(el("p", "alert-msg", m));
    return li;
  });
}

// The list of what is happening and the advice, into two lists (ids given).
export function renderNow(lineList, adviceList, look, alerts) {
  lineList.replaceChildren(...(look.state === "alert" ? threatLineItems(threatLines(alerts)) : []));
  adviceList.replaceChildren(...adviceKeys(look, alerts).map((k) => el("li", "", t(k))));
}
