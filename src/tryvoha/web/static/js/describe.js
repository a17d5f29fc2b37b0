// The text of a region's look, for aria-label and the map's tooltip: its state, then every
// threat type with its level and what is coming.

import { kindsOf } from "./alerts.js";
import { nameOf, t } from "./i18n.js";
import { THREAT_ORDER, wordKey } from "./state.js";

export function describeLook(regions, id, look, alerts = []) {
  const name = nameOf(regions.get(id));
  if (look.state === "clear") return `${name}: ${t("state.clear")}`;
  const head = t(wordKey(look));
  const types = THREAT_ORDER.filter((th) => alerts.some((a) => a.threat === th));
  const parts = (types.length ? types : [look.threat]).map((th) => {
    const yellow = alerts.length ? alerts.filter((a) => a.threat === th).every((a) => a.level === "yellow") : look.level === "yellow";
    return `${t(`threat.${th}`)}${yellow ? ` (${t("level.yellow_short")})` : ""}`;
  });
  const kinds = kindsOf(alerts).map((k) => t(`kind.${k}`));
  const standing = look.standing ? `; ${t("state.standing")}` : "";
  return `${name}: ${head} — ${parts.join(", ")}${kinds.length ? `: ${kinds.join(", ")}` : ""}${standing}`;
}

