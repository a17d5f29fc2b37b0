// The active alerts as the event stream leaves them, and how each region looks.
// The rules are tryvoha.web.present's (the server paints the first frame with them);
// tests/web/cases/colouring.json holds both to the same answers:
//   alert    an active alert on the region or on a region above it;
//   partial  none of those, but an active alert on a region below it, or an alert that
//            only says "somewhere in this region" (the consolidated record) on it or
//            above it; vague when only the latter;
//   clear    neither.
// The colour is the most dangerous threat type among those alerts; the level is red when
// any of them is red; standing when every one of them has lasted LONG_STANDING_MS or more.

export const THREAT_ORDER = ["nuclear", "chemical", "air_raid", "urban_fights", "artillery_shelling"];
export const KIND_ORDER = [
  "ballistic_missiles", "cruise_missiles", "hypersonic_missiles", "drones",
  "guided_aerial_bombs", "aviation", "mig31k_departure", "naval_missile_carriers",
];
export const LONG_STANDING_MS = 7 * 86400e3;
const CLEAR = Object.freeze({ state: "clear", threat: "", level: "", standing: false, vague: false });

// tryvoha.domain.events.is_consolidated
export const isConsolidated = (issuer) => (issuer || "").endsWith(":consolidated");

function summarise(state, alerts, now, vague) {
  let threat = alerts[0].threat;
  for (const a of alerts) if (THREAT_ORDER.indexOf(a.threat) < THREAT_ORDER.indexOf(threat)) threat = a.threat;
  return {
    state,
    threat,
    level: alerts.some((a) => a.level === "red") ? "red" : "yellow",
    standing: alerts.every((a) => now - Date.parse(a.started_at) >= LONG_STANDING_MS),
    vague,
  };
}

// The catalogue key of a look's one-word state (ShapeState.word_key).
export function wordKey(look) {
  if (look.state === "alert") return look.level === "yellow" ? "state.word.yellow" : "state.word.alert";
  if (look.state === "partial" && look.vague) return "state.word.somewhere";
  return `state.word.${look.state}`;
}

// What to do, as catalogue keys (tryvoha.web.present.advice_keys).
export function adviceKeys(look, alerts) {
  if (look.state === "alert") {
    const keys = [];
    for (const threat of THREAT_ORDER) {
      const ofType = alerts.filter((a) => a.threat === threat);
      if (!ofType.length) continue;
      const key = ofType.some((a) => a.level === "red") ? `advice.${threat}` : "advice.yellow";
      if (!keys.includes(key)) keys.push(key);
    }
    return keys;
  }
  if (look.state === "partial") return [look.vague ? "advice.somewhere" : "advice.partial"];
  return ["advice.clear"];
}

// The data- attributes of a look (ShapeState.data), as strings.
export function lookData(look) {
  return {
    state: look.state, threat: look.threat, level: look.level,
    standing: String(!!look.standing), vague: String(!!look.vague),
  };
}

export class Colouring {
  constructor(regions, alerts, now = Date.now()) {
    this.regions = regions;
    this.now = now;
    this.on = new Map();
    this.below = new Map();
    for (const alert of alerts) {
      push(this.on, alert.region_id, alert);
      for (const above of regions.ancestors(alert.region_id)) push(this.below, above, alert);
    }
  }

  // [state, the alerts that make the region look as it does]
  alertsWithState(id) {
    const over = [];
    for (const rid of [id, ...this.regions.ancestors(id)]) over.push(...(this.on.get(rid) || []));
    const whole = over.filter((a) => !isConsolidated(a.issuer));
    if (whole.length) return ["alert", whole];
    const somewhere = over.filter((a) => isConsolidated(a.issuer));
    const below = this.below.get(id) || [];
    if (somewhere.length || below.length) return ["partial", [...somewhere, ...below]];
    return ["clear", []];
  }

  alertsFor(id) {
    return this.alertsWithState(id)[1];
  }

  of(id) {
    const [state, alerts] = this.alertsWithState(id);
    if (state === "clear") return CLEAR;
    return summarise(state, alerts, this.now, state === "partial" && !this.below.has(id));
  }
}

function push(map, key, value) {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

export class AlertState {
  constructor(snapshot) {
    this.load(snapshot);
  }

  // {seq, alerts} as /api/v1/alerts/active answers.
  load(snapshot) {
    this.seq = snapshot.seq;
    this.alerts = new Map(snapshot.alerts.map((a) => [a.id, a]));
  }

  // One event from the stream; false when it was seen already.
  apply(event) {
    if (event.seq <= this.seq) return false;
    this.seq = event.seq;
    if (event.type === "alert.cleared") this.alerts.delete(event.alert.id);
    else this.alerts.set(event.alert.id, event.alert);
    return true;
  }

  active(filter = null) {
    const all = [...this.alerts.values()];
    return filter ? all.filter(filter) : all;
  }

  colouring(regions, threat = "", now = Date.now()) {
    return new Colouring(regions, this.active(threat ? (a) => a.threat === threat : null), now);
  }
}
