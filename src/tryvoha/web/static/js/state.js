// The active alerts as the event stream leaves them, and what each region looks like.
// The colouring rule is tryvoha.web.present's (the server paints the first frame with it):
//   alert    an active alert on the region or on a region above it;
//   partial  none of those, but an active alert on a region below it;
//   clear    neither.
// The colour is the most dangerous threat type among those alerts; the level is red when
// any of them is red.

export const THREAT_ORDER = ["nuclear", "chemical", "air_raid", "urban_fights", "artillery_shelling"];
const CLEAR = Object.freeze({ state: "clear", threat: "", level: "" });

function summarise(state, alerts) {
  let threat = alerts[0].threat;
  for (const a of alerts) if (THREAT_ORDER.indexOf(a.threat) < THREAT_ORDER.indexOf(threat)) threat = a.threat;
  return { state, threat, level: alerts.some((a) => a.level === "red") ? "red" : "yellow" };
}

export class Colouring {
  constructor(regions, alerts) {
    this.regions = regions;
    this.on = new Map();
    this.below = new Map();
    for (const alert of alerts) {
      push(this.on, alert.region_id, alert);
      for (const above of regions.ancestors(alert.region_id)) push(this.below, above, alert);
    }
  }

  of(id) {
    const covering = [];
    for (const rid of [id, ...this.regions.ancestors(id)]) {
      const here = this.on.get(rid);
      if (here) covering.push(...here);
    }
    if (covering.length) return summarise("alert", covering);
    const inside = this.below.get(id);
    return inside ? summarise("partial", inside) : CLEAR;
  }

  // The alerts that make a region look as it does: on it or above it, else below it.
  alertsFor(id) {
    const covering = [];
    for (const rid of [id, ...this.regions.ancestors(id)]) covering.push(...(this.on.get(rid) || []));
    return covering.length ? covering : this.below.get(id) || [];
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

  colouring(regions, threat = "") {
    return new Colouring(regions, this.active(threat ? (a) => a.threat === threat : null));
  }
}
