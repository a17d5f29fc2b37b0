// What a declare did, region by region, from its answer (POST /api/v1/alerts lists one
// alert per region) and the alerts that were active just before it was sent. The rule is
// tryvoha.domain.commands.decide_declare's:
//   new        no alert of that threat type was active there: alert.declared;
//   raised     a yellow one was, and the declare was red: alert.updated to red, nothing else;
//   untouched  one was already active: nothing written, so the declare's threat kinds and
//              message did not reach it (`stale` lists those, `patch` is the PATCH that
//              brings them up to date).

const sameKinds = (alert, kinds) => {
  const had = new Set((alert.threats || []).map((k) => k.kind));
  return had.size === kinds.length && kinds.every((k) => had.has(k));
};

const sameMessage = (alert, message) =>
  (alert.message?.uk || null) === (message?.uk || null) && (alert.message?.en || null) === (message?.en || null);

export function declareOutcome(before, answered, sent, issuer) {
  const out = { new: [], raised: [], untouched: [] };
  for (const alert of answered) {
    const was = before.get(alert.id);
    if (!was) {
      // not active before: this declare made it, unless another issuer's arrived meanwhile
      (alert.issuer === issuer && alert.started_at === alert.updated_at ? out.new : out.untouched).push(alert);
    } else if (was.level === "yellow" && alert.level === "red" && sent.level === "red") {
      out.raised.push(alert);
    } else {
      out.untouched.push(alert);
    }
  }
  const wanted = (alert) =>
    (sent.threats.length && !sameKinds(alert, sent.threats)) || (sent.message && !sameMessage(alert, sent.message));
  out.stale = () => [...out.raised, ...out.untouched].filter(wanted);
  out.patch = () => ({
    ...(sent.threats.length ? { threats: sent.threats } : {}),
    ...(sent.message ? { message: sent.message } : {}),
  });
  return out;
}
