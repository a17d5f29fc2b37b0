"""The pages: the live map at /, region pages, the operator console, the language switch.

Each page is rendered with the state at the current seq and carries that seq, so its
script resumes the event stream exactly where the HTML left off. The map page is the hot
one (everyone opens it on the morning of a nationwide alert): its bytes are kept per
(language, seq) and rebuilt only when an event changes the state.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Header, Request
from starlette.responses import RedirectResponse, Response

from tryvoha import i18n
from tryvoha.config import parse_replay
from tryvoha.domain.alerts import Alert, ThreatKind, ThreatType
from tryvoha.domain.errors import DomainError
from tryvoha.domain.regions import Level, RegionTree
from tryvoha.geo.layers import MAP_LEVELS
from tryvoha.i18n.formats import DISPLAY_TIME_ZONE, local_time
from tryvoha.protocol.wire import alert_to_json
from tryvoha.server.negotiation import accepts_gzip
from tryvoha.server.services import Services
from tryvoha.server.static import layer_url, region_index_url, renderer
from tryvoha.store.base import HistoryQuery
from tryvoha.web.names import region_names
from tryvoha.web.present import Colouring, alert_rows, headline
from tryvoha.web.region import children_view, history_row, region_view, threat_states
from tryvoha.web.shapes import map_view

router = APIRouter(include_in_schema=False)

HTML = "text/html; charset=utf-8"
HISTORY_PAGE = 25
CURSOR = re.compile(r"\d{1,15}_[\w.:-]{1,80}")
LANG_COOKIE_SECONDS = 400 * 24 * 3600  # the longest browsers keep a cookie
MAP_PAGES_KEPT = 8


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


def page_lang(request: Request) -> str:
    return i18n.negotiate(request.headers.get("accept-language"), request.cookies.get(i18n.COOKIE))


@dataclass(frozen=True, slots=True)
class Page:
    body: bytes
    gzipped: bytes
    lang: str


def make_page(html: str, lang: str) -> Page:
    body = html.encode()
    return Page(body, gzip.compress(body, compresslevel=6, mtime=0), lang)


def page_response(page: Page, accept_encoding: str | None, status: int = 200) -> Response:
    headers = {
        "Content-Language": page.lang,
        "Vary": "Accept-Language, Cookie, Accept-Encoding",
        # The state in the HTML is current when it is sent; the page's script keeps it
        # so. A cache may not serve it again without asking.
        "Cache-Control": "no-cache",
        "Content-Security-Policy": renderer().csp,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Permissions-Policy": "geolocation=(self), camera=(), microphone=()",
    }
    if accepts_gzip(accept_encoding):
        headers["Content-Encoding"] = "gzip"
        return Response(page.gzipped, status, headers=headers, media_type=HTML)
    return Response(page.body, status, headers=headers, media_type=HTML)


# -- what every page with a map or a live list needs -----------------------------------


@cache
def map_urls() -> dict[str, Any]:
    tree_oblasts = [r.id for r in _tree().at_level(Level.OBLAST)]
    return {
        "regions": region_index_url(),
        "layers": {lvl.value: layer_url(lvl) for lvl in MAP_LEVELS},
        "hromadas": {o: layer_url(Level.HROMADA, o) for o in tree_oblasts},
    }


@cache
def _tree() -> RegionTree:
    from tryvoha.data import region_tree

    return region_tree()


def replay_view(svc: Services, t: i18n.Catalogue) -> dict[str, Any] | None:
    """The demo's replay clock (static/js/replay.js ticks it), or None."""
    clock = parse_replay(svc.settings.demo_replay)
    if clock is None:
        return None
    return {
        "first": clock.first.isoformat(),
        "last": clock.last.isoformat(),
        "anchor": clock.anchor.isoformat(),
        "speed": f"{clock.speed:g}",
        "speed_text": f"{clock.speed:g}",
        "day": local_time(clock.first).strftime("%d.%m.%Y %H:%M"),
    }


def render(svc: Services, template: str, lang: str, path: str, **context: Any) -> str:
    t = i18n.catalogue(lang)
    return renderer().render(
        template,
        lang,
        path,
        replay=replay_view(svc, t),
        threat_types=[th.value for th in ThreatType],
        threat_kinds=[k.value for k in ThreatKind],
        **context,
    )


def page_data(lang: str, seq: int, alerts: list[Alert], **extra: Any) -> dict[str, Any]:
    return {
        "lang": lang,
        "time_zone": DISPLAY_TIME_ZONE,
        "seq": seq,
        "alerts": [alert_to_json(a) for a in alerts],
        "urls": map_urls(),
        "threat_types": [t.value for t in ThreatType],
        **extra,
    }


def push_key(svc: Services) -> str | None:
    """The VAPID public key the page subscribes with (None: Web Push is off)."""
    return svc.push.keys.public_key if svc.push is not None else None


def summary(
    tree: RegionTree, colouring: Colouring, active: int, t: i18n.Catalogue
) -> dict[str, Any]:
    """The headline: how many oblast-level units are under a red alert, a yellow one, or
    in part. static/js/summary.js writes the same from the live state."""
    looks = [colouring.of(r.id) for r in tree.at_level(Level.OBLAST)]
    h = headline(looks, active)
    return {"red": h.red, "state": h.state, "title": h.title(t), "sub": h.sub(t)}


# -- the map ----------------------------------------------------------------------------


@router.get("/")
async def map_page(
    request: Request, accept_encoding: Annotated[str | None, Header()] = None
) -> Response:
    svc = services(request)
    lang = page_lang(request)
    seq = svc.engine.seq
    kept: dict[tuple[str, int], Page] | None = getattr(request.app.state, "map_pages", None)
    if kept is None:
        kept = request.app.state.map_pages = {}
    page = kept.get((lang, seq))
    if page is None:
        page = make_page(render_map(svc, lang, seq), lang)
        if len(kept) >= MAP_PAGES_KEPT:
            kept.clear()
        kept[(lang, seq)] = page
    return page_response(page, accept_encoding)


def render_map(svc: Services, lang: str, seq: int) -> str:
    t = i18n.catalogue(lang)
    now = svc.engine.clock()
    active = svc.engine.projection.active()
    colouring = Colouring(svc.tree, active, now)
    return render(
        svc,
        "map.html",
        lang,
        "/",
        page="map",
        map=map_view(colouring, lang),
        threat_filter=True,
        summary=summary(svc.tree, colouring, len(active), t),
        rows=alert_rows(svc.tree, active, t, now),
        page_data=page_data(lang, seq, active, push_key=push_key(svc)),
    )


# -- a region ---------------------------------------------------------------------------


@router.get("/region/{region_id}")
async def region_page(
    request: Request,
    region_id: str,
    cursor: str | None = None,
    accept_encoding: Annotated[str | None, Header()] = None,
) -> Response:
    svc = services(request)
    lang = page_lang(request)
    t = i18n.catalogue(lang)
    try:
        region = svc.tree.get(region_id)
    except DomainError:
        return not_found(
            request, svc, lang, t("notfound.region", id=region_id[:64]), accept_encoding
        )
    if cursor is not None and not CURSOR.fullmatch(cursor):
        cursor = None
    seq = svc.engine.seq
    now = svc.engine.clock()
    related = [
        a for a in svc.engine.projection.active() if svc.tree.related(a.region_id, region.id)
    ]
    family = frozenset(
        {region.id, *svc.tree.ancestors(region.id), *svc.tree.descendants(region.id)}
    )
    history = await svc.store.alert_history(
        HistoryQuery(regions=family, cursor=cursor, limit=HISTORY_PAGE)
    )
    colouring = Colouring(svc.tree, related, now)
    html = render(
        svc,
        "region.html",
        lang,
        f"/region/{region.id}",
        page="region",
        region=region_view(svc.tree, region, colouring, t, now),
        crumbs=[
            {"id": rid, "name": region_names()[rid].full(lang)}
            for rid in reversed(svc.tree.ancestors(region.id))
        ],
        threat_states=threat_states(svc.tree, region, related, now),
        rows=alert_rows(svc.tree, related, t, now),
        children=children_view(svc.tree, region, colouring, lang),
        history=[history_row(a, region, t, now) for a in history.alerts],
        cursor=cursor,
        next_cursor=history.next_cursor,
        page_data=page_data(
            lang,
            seq,
            related,
            region_id=region.id,
            region_level=region.level.value,
            push_key=push_key(svc),
        ),
    )
    return page_response(make_page(html, lang), accept_encoding)


def not_found(
    request: Request, svc: Services, lang: str, detail: str, accept_encoding: str | None
) -> Response:
    html = render(
        svc,
        "not_found.html",
        lang,
        request.url.path,
        page="notfound",
        detail=detail,
        page_data={"lang": lang},
    )
    return page_response(make_page(html, lang), accept_encoding, status=404)


# -- the console --------------------------------------------------------------------------


@router.post("/console", include_in_schema=False)
async def console_posted() -> Response:
    """The sign-in form posted without its script (the token field has no name, so
    nothing of it was sent): back to the page, never a token in a URL or a log."""
    return RedirectResponse("/console", status_code=303)


@router.get("/console")
async def console_page(
    request: Request, accept_encoding: Annotated[str | None, Header()] = None
) -> Response:
    svc = services(request)
    lang = page_lang(request)
    active = svc.engine.projection.active()
    html = render(
        svc,
        "console.html",
        lang,
        "/console",
        page="console",
        map=map_view(Colouring(svc.tree, active, svc.engine.clock()), lang),
        threat_filter=False,
        page_data=page_data(
            lang,
            svc.engine.seq,
            active,
            oblast_count=len(svc.tree.at_level(Level.OBLAST)),
        ),
    )
    return page_response(make_page(html, lang), accept_encoding)


# -- the language switch ------------------------------------------------------------------


def local_path(target: str | None) -> str:
    """Only a path on this site (no scheme, no host, no "//"): never an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target


@router.get("/lang/{code}")
async def switch_language(code: str, next: str | None = None) -> Response:
    response = RedirectResponse(local_path(next), status_code=303)
    if code in i18n.LANGUAGES:
        response.set_cookie(
            i18n.COOKIE, code, max_age=LANG_COOKIE_SECONDS, path="/", samesite="lax", httponly=True
        )
    return response
