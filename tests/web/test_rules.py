"""One rule, one place: where the page needs a JS twin of a Python rule, both answer the
same file of cases (tests/web/cases/*.json). How a region looks and its one-word state
(effective state, level wording, long-standing and consolidated alerts), what to do, the
headline, start times, and names: each checked here in Python, then in the browser
against the modules the pages load."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser

from tests.support.server import ServerProcess
from tests.web.browser import CASES, live, new_page
from tryvoha import i18n
from tryvoha.domain.alerts import Alert, AlertId, AlertLevel, Threat, ThreatKind, ThreatType
from tryvoha.domain.regions import RegionId, RegionTree
from tryvoha.protocol.wire import alert_to_json, parse_time
from tryvoha.web.names import region_names
from tryvoha.web.present import (
    Colouring,
    ShapeState,
    advice_keys,
    headline,
    since_text,
)


def cases(name: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads((CASES / f"{name}.json").read_text())
    return found


def alerts_of(case: dict[str, Any], regions: dict[str, str]) -> list[Alert]:
    out = []
    for i, a in enumerate(case["alerts"]):
        started = parse_time(a["started_at"])
        out.append(
            Alert(
                id=AlertId(f"case{i}"),
                region_id=RegionId(regions[a["region"]]),
                threat=ThreatType(a["threat"]),
                level=AlertLevel(a["level"]),
                threats=tuple(Threat(ThreatKind(k), started) for k in a.get("threats", [])),
                message=None,
                started_at=started,
                updated_at=started,
                ended_at=None,
                issuer=a.get("issuer", "lviv-oda"),
            )
        )
    return out


def look_of(colouring: Colouring, region_id: RegionId) -> dict[str, object]:
    look = colouring.of(region_id)
    return {
        "state": look.state,
        "threat": look.threat,
        "level": look.level,
        "standing": look.standing,
        "vague": look.vague,
        "word": look.word_key,
        "advice": advice_keys(look, colouring.alerts_for(region_id)[1]),
    }


COLOURING = cases("colouring")


@pytest.mark.parametrize("case", COLOURING["cases"], ids=lambda c: c["name"][:40])
def test_colouring_in_python(case: dict[str, Any], tree: RegionTree) -> None:
    regions = COLOURING["regions"]
    colouring = Colouring(tree, alerts_of(case, regions), parse_time(COLOURING["now"]))
    for name, expected in case["expect"].items():
        assert look_of(colouring, RegionId(regions[name])) == expected, name


def headline_looks(case: dict[str, Any]) -> list[ShapeState]:
    if case["looks"] == "all red":
        return [ShapeState("alert", "air_raid", "red")] * case["oblasts"]
    looks = [ShapeState(s, "air_raid", level) for s, level in case["looks"]]
    return looks + [ShapeState("clear", "", "")] * (case["oblasts"] - len(looks))


@pytest.mark.parametrize("case", cases("headline")["cases"], ids=lambda c: c["title"])
def test_headline_in_python(case: dict[str, Any]) -> None:
    h = headline(headline_looks(case), case["active"])
    t = i18n.catalogue("uk")
    assert (h.state, h.title(t), h.sub(t)) == (case["state"], case["title"], case["sub"])


@pytest.mark.parametrize("case", cases("since")["cases"], ids=lambda c: c["text"])
def test_since_in_python(case: dict[str, Any]) -> None:
    assert since_text(parse_time(case["started"]), parse_time(case["now"])) == case["text"]


@pytest.mark.parametrize("case", cases("names")["cases"], ids=lambda c: c["en"][0])
def test_names_in_python(case: dict[str, Any]) -> None:
    names = region_names()[RegionId(case["id"])]
    assert names.kind == case["kind"]
    for lang in i18n.LANGUAGES:
        assert [names.full(lang), names.short(lang)] == case[lang], lang


# -- the same files in the browser ------------------------------------------------------

BROWSER_RULES = """
async ([colouring, headlines, since, names, wire]) => {
  const { Regions } = await import("/static/js/regions.js");
  const { Colouring, adviceKeys, wordKey } = await import("/static/js/state.js");
  const { headline, headlineState, headlineTitle, headlineSub } = await import("/static/js/summary.js");
  const { sinceText, nameOf, shortOf, pageData } = await import("/static/js/i18n.js");
  const regions = await Regions.load(pageData.urls.regions);
  const out = { colouring: [], headline: [], since: [], names: [] };
  const now = Date.parse(colouring.now);
  colouring.cases.forEach((c, i) => {
    const alerts = wire[i];
    const col = new Colouring(regions, alerts, now);
    const got = {};
    for (const name of Object.keys(c.expect)) {
      const id = colouring.regions[name];
      const look = col.of(id);
      got[name] = { state: look.state, threat: look.threat, level: look.level, standing: look.standing,
        vague: look.vague, word: wordKey(look), advice: adviceKeys(look, col.alertsFor(id)) };
    }
    out.colouring.push(got);
  });
  for (const c of headlines.cases) {
    const looks = c.looks === "all red"
      ? Array(c.oblasts).fill({ state: "alert", level: "red" })
      : [...c.looks.map(([state, level]) => ({ state, level })), ...Array(c.oblasts - c.looks.length).fill({ state: "clear", level: "" })];
    const h = headline(looks, c.active);
    out.headline.push([headlineState(h), headlineTitle(h), headlineSub(h)]);
  }
  for (const c of since.cases) out.since.push(sinceText(c.started, Date.parse(c.now)));
  for (const c of names.cases) {
    const r = regions.get(c.id);
    out.names.push({ kind: r.kind, uk: [nameOf(r, "uk"), shortOf(r, "uk")], en: [nameOf(r, "en"), shortOf(r, "en")], fr: [nameOf(r, "fr"), shortOf(r, "fr")] });
  }
  return out;
}
"""


def test_the_browser_twins_give_the_same_answers(
    browser: Browser, server: ServerProcess, tree: RegionTree
) -> None:
    headlines, since, names = cases("headline"), cases("since"), cases("names")
    wire = [
        [alert_to_json(a) for a in alerts_of(c, COLOURING["regions"])] for c in COLOURING["cases"]
    ]
    page = new_page(browser)
    page.goto(server.url)
    live(page)
    got = page.evaluate(BROWSER_RULES, [COLOURING, headlines, since, names, wire])
    for case, answer in zip(COLOURING["cases"], got["colouring"], strict=True):
        assert answer == case["expect"], case["name"]
    for case, answer in zip(headlines["cases"], got["headline"], strict=True):
        assert answer == [case["state"], case["title"], case["sub"]]
    assert got["since"] == [c["text"] for c in since["cases"]]
    for case, answer in zip(names["cases"], got["names"], strict=True):
        assert answer == {k: case[k] for k in ("kind", "uk", "en", "fr")}, case["id"]
    assert not page.errors  # type: ignore[attr-defined]
    page.context.close()


def test_the_cases_are_the_files_both_sides_read() -> None:
    # a guard against a twin drifting by a renamed file: every case file is used above
    assert {p.stem for p in Path(CASES).glob("*.json")} == {
        "colouring",
        "headline",
        "since",
        "names",
    }
    assert datetime.fromisoformat(COLOURING["now"].replace("Z", "+00:00"))
