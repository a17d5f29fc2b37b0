"""The table of hot routes: every route the HTTP front serves without the ASGI stack,
declared once, with its rules.

The front (`server/front/`) matches each request against this table; the app registers
the same entries as its own routes (`server/hot_app.py`), so a connection served either
way gets the same answer from the same functions: the same view, the same query rules,
the same ETag rule, the same problems. A new polled route is one `Poll` entry and its
view; a new write, one `Write` entry and its command builder.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

from pydantic import BaseModel, ValidationError

from tryvoha.domain.alerts import ThreatType
from tryvoha.domain.commands import Command
from tryvoha.domain.errors import DomainError
from tryvoha.domain.events import Seq
from tryvoha.domain.regions import RegionTree
from tryvoha.engine.clock import system_clock
from tryvoha.protocol.compat_alerts_in_ua import IotVersion
from tryvoha.protocol.compat_locations import Location
from tryvoha.server.answers import Cached
from tryvoha.server.bodies import check_json
from tryvoha.server.compat_gate import (
    Api,
    Bucket,
    Refusal,
    alerts_in_ua_key,
    ukrainealarm_key,
)
from tryvoha.server.fanout import Filter
from tryvoha.server.models import DeclareIn, UpdateIn
from tryvoha.server.problems import Problem, body_problem, from_domain
from tryvoha.server.services import Services
from tryvoha.server.writes import (
    clear_alert_command,
    clear_region_command,
    declare_command,
    update_command,
)

Params = Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Keyed:
    """A route that takes an API key (the compatible APIs): where the key is found, and
    which of its limits a request counts against (`server/compat_gate.py`)."""

    api: Api
    bucket: Bucket
    find: Callable[[str | None, Sequence[tuple[str, str]]], str | None]  # (Authorization, query)


@dataclass(frozen=True, slots=True)
class Poll:
    """A GET (and HEAD) answered from a body built once per seq, with ETag (and, when
    the body carries a date, Last-Modified) and 304."""

    path: str
    view: Callable[[Services, Params], Cached]
    summary: str
    key: Keyed | None = None
    methods: tuple[str, ...] = ("GET", "HEAD")
    media_type: str = "application/json"  # what the view's answers are (for the docs)


@dataclass(frozen=True, slots=True)
class EventStream:
    """Server-Sent Events, resumable with Last-Event-ID or ?after, filtered by region."""

    path: str
    summary: str
    methods: tuple[str, ...] = ("GET",)


@dataclass(frozen=True, slots=True)
class WebSocketStream:
    """The same events over a WebSocket; the client's first message says what it wants."""

    path: str
    summary: str
    methods: tuple[str, ...] = ("GET",)


@dataclass(frozen=True, slots=True)
class Write:
    """A write an issuer makes: the command is built from the path, query and body alone
    (pure), then carried out by `server.writes.perform`."""

    method: str
    path: str
    command: Callable[[RegionTree, Params, Sequence[tuple[str, str]], bytes, str | None], Command]
    summary: str
    status: int = 200
    body: type[BaseModel] | None = None
    query: tuple[dict[str, Any], ...] = ()  # OpenAPI parameters

    @property
    def methods(self) -> tuple[str, ...]:
        return (self.method,)


Entry = Poll | EventStream | WebSocketStream | Write


# -- the rules of the streams ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StreamAsk:
    """What a subscriber asks for: where to resume, and which events."""

    after: Seq | None
    filter: Filter


def stream_filter(tree: RegionTree, regions: Sequence[str], history: bool, cap: int) -> Filter:
    if len(regions) > cap:
        raise Problem("invalid_parameter", f"region: at most {cap} regions per stream")
    try:
        ids = frozenset(tree.get(r).id for r in regions)
    except DomainError as e:
        raise from_domain(e) from None
    return Filter(ids, history)


def last_event_id(header: str | None, after: int | None) -> Seq | None:
    """Where an SSE subscriber resumes: Last-Event-ID wins over ?after (browsers resend it)."""
    text = header.strip() if header else None
    if text:
        if not text.isdigit() or len(text) > 18:
            raise Problem("invalid_parameter", f"Last-Event-ID: '{text[:40]}' is not a seq")
        return Seq(int(text))
    return None if after is None else Seq(after)


BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


def events_query(
    tree: RegionTree, query: Sequence[tuple[str, str]], last_event_id_header: str | None, cap: int
) -> StreamAsk:
    """The query of GET /api/v1/events: after, region (repeated), history. Unknown
    parameters are ignored, as on every route."""
    after: int | None = None
    regions: list[str] = []
    history = False
    for name, value in query:
        if name == "after":
            if not value.isdigit() or len(value) > 18:
                raise Problem("invalid_parameter", f"after: '{value[:40]}' is not a seq")
            after = int(value)
        elif name == "region":
            regions.append(value)
            if len(regions) > cap:
                break
        elif name == "history":
            if value not in BOOLEANS:
                raise Problem("invalid_parameter", f"history: '{value[:40]}' is not true or false")
            history = BOOLEANS[value]
    return StreamAsk(
        last_event_id(last_event_id_header, after), stream_filter(tree, regions, history, cap)
    )


class Hello(BaseModel):
    """A WebSocket client's first message."""

    model_config = {"extra": "forbid", "strict": True}
    after: int | None = None
    regions: list[str] = []
    history: bool = False


def read_hello(tree: RegionTree, data: bytes | str, cap: int) -> StreamAsk:
    """Where a WebSocket client resumes and what it follows; Problem when it says nonsense."""
    try:
        check_json(data)
    except Problem as e:
        raise Problem(e.code, f"first message: {e.detail}", e.status) from None
    try:
        hello = Hello.model_validate_json(data)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "message"
        raise Problem("invalid_parameter", f"first message: {where}: {first['msg']}") from None
    if hello.after is not None and hello.after < 0:
        raise Problem("invalid_parameter", "first message: after: must be 0 or more")
    try:
        flt = stream_filter(tree, hello.regions, hello.history, cap)
    except Problem as e:
        raise Problem(e.code, f"first message: {e.detail}", e.status) from None
    return StreamAsk(None if hello.after is None else Seq(hello.after), flt)


# -- the writes -----------------------------------------------------------------------


def _json_body(model: type[BaseModel], body: bytes, content_type: str | None) -> Any:
    if not is_json(content_type):
        shown = content_type or "none"
        raise Problem(
            "unsupported_media_type",
            f"send the body as JSON with Content-Type: application/json (got {shown})",
        )
    check_json(body)
    try:
        return model.model_validate_json(body)
    except ValidationError as e:
        raise body_problem(e.errors()) from None


def is_json(content_type: str | None) -> bool:
    media = (content_type or "").partition(";")[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def _declare(
    tree: RegionTree, params: Params, query: Any, body: bytes, ctype: str | None
) -> Command:
    return declare_command(_json_body(DeclareIn, body, ctype))


def _update(
    tree: RegionTree, params: Params, query: Any, body: bytes, ctype: str | None
) -> Command:
    return update_command(params["alert_id"], _json_body(UpdateIn, body, ctype))


def _clear(tree: RegionTree, params: Params, query: Any, body: bytes, ctype: str | None) -> Command:
    return clear_alert_command(params["alert_id"])


def _clear_region(
    tree: RegionTree,
    params: Params,
    query: Sequence[tuple[str, str]],
    body: bytes,
    ctype: str | None,
) -> Command:
    threat = None
    for name, value in query:
        if name == "threat":
            try:
                threat = ThreatType(value)
            except ValueError:
                kinds = ", ".join(t.value for t in ThreatType)
                raise Problem(
                    "invalid_parameter", f"threat: '{value[:40]}' is not one of {kinds}"
                ) from None
    return clear_region_command(tree, params["region_id"], threat)


THREAT_QUERY = {
    "name": "threat",
    "in": "query",
    "required": False,
    "description": "only alerts of this threat type",
    "schema": {"type": "string", "enum": [t.value for t in ThreatType]},
}


# -- the compatible APIs' polls (docs/compat.md) ----------------------------------------


def _first(query: Sequence[tuple[str, str]], name: str) -> str | None:
    return next((value for key, value in query if key == name), None)


AIU_KEY = Keyed(
    Api.ALERTS_IN_UA,
    Bucket.ALERTS_IN_UA,
    lambda authorization, query: alerts_in_ua_key(authorization, _first(query, "token")),
)
UA_KEY = Keyed(Api.UKRAINEALARM, Bucket.UKRAINEALARM, lambda auth, _: ukrainealarm_key(auth))


def aiu_place(svc: Services, uid: str) -> Location:
    loc = svc.compat.locations.parse(uid)
    if loc is None:
        raise Refusal(404, "not_found", f"no location has the uid '{uid[:100]}'")
    return loc


def ua_place(svc: Services, region_id: str) -> Location:
    loc = svc.compat.locations.parse(region_id)
    if loc is None or not loc.in_ukrainealarm:
        raise Refusal(
            404, "unknown_region", f"no region has the id '{region_id}' (see /api/v3/regions)"
        )
    return loc


def _iot(version: IotVersion) -> tuple[Poll, ...]:
    prefix = f"/v{version}/iot"
    letters = "A" if version == 1 else "R (red) or Y (yellow)"
    return (
        Poll(
            f"{prefix}/active_air_raid_alerts_by_oblast.json",
            lambda svc, _: svc.compat.aiu_by_oblast(version),
            f"alerts.in.ua IoT v{version}: 27 letters, one per oblast, {letters}/P/N",
            AIU_KEY,
        ),
        Poll(
            f"{prefix}/active_air_raid_alerts/{{uid}}.json",
            lambda svc, p: svc.compat.aiu_uid(version, aiu_place(svc, p["uid"])),
            f"alerts.in.ua IoT v{version}: one place's letter, {letters}/P/N",
            AIU_KEY,
        ),
        Poll(
            f"{prefix}/active_air_raid_alerts.json",
            lambda svc, _: svc.compat.aiu_all(version),
            f"alerts.in.ua IoT v{version}: every uid's letter at its position",
            AIU_KEY,
        ),
    )


COMPAT_POLLS: tuple[Poll, ...] = (
    Poll(
        "/v1/alerts/active.json",
        lambda svc, _: svc.compat.aiu_active(),
        "alerts.in.ua: every active alert",
        AIU_KEY,
    ),
    *_iot(1),
    *_iot(2),
    Poll(
        "/api/v3/alerts",
        lambda svc, _: svc.compat.ua_alerts(),
        "ukrainealarm: the regions with an alert of their own",
        UA_KEY,
    ),
    Poll(
        "/api/v3/alerts/status",
        lambda svc, _: svc.compat.ua_status(),
        "ukrainealarm: the last action index (our seq)",
        UA_KEY,
    ),
    Poll(
        "/api/v3/alerts/{region_id:int}",
        lambda svc, p: svc.compat.ua_region(ua_place(svc, p["region_id"])),
        "ukrainealarm: what holds in one region",
        UA_KEY,
    ),
    Poll(
        "/api/v3/regions",
        lambda svc, _: svc.compat.ua_regions,
        "ukrainealarm: every state, district and community with its id",
        UA_KEY,
    ),
)


# -- the table ------------------------------------------------------------------------


TABLE: tuple[Entry, ...] = (
    Poll(
        "/api/v1/regions",
        lambda svc, _: svc.views.regions,
        "Every region: country, oblasts, raions, hromadas",
    ),
    Poll(
        "/api/v1/alerts/active",
        lambda svc, _: svc.views.active(),
        "Every active alert, oldest first, with the seq they are current at",
    ),
    Poll(
        "/api/v1/state",
        lambda svc, _: svc.views.state(),
        "Effective state of every region that is not clear, per threat type",
    ),
    EventStream(
        "/api/v1/events",
        "Server-Sent Events: every alert event, resumable with Last-Event-ID or ?after",
    ),
    Poll(
        "/cap/feed.atom",
        lambda svc, _: svc.cap.feed_document(system_clock()),
        "Atom feed: the newest CAP message of every active alert and of those ended lately",
        media_type="application/atom+xml",
    ),
    *COMPAT_POLLS,
    WebSocketStream(
        "/api/v1/ws",
        'WebSocket: send {"after": seq|null, "regions": [ids]} first; then every event as JSON',
    ),
    Write(
        "POST",
        "/api/v1/alerts",
        _declare,
        "Declare alerts: one per region, in one transaction",
        201,
        DeclareIn,
    ),
    Write(
        "PATCH",
        "/api/v1/alerts/{alert_id}",
        _update,
        "Change an active alert's level, threats or message",
        body=UpdateIn,
    ),
    Write("POST", "/api/v1/alerts/{alert_id}/clear", _clear, "Clear one alert"),
    Write(
        "POST",
        "/api/v1/regions/{region_id}/clear",
        _clear_region,
        "Clear the active alerts of a region and every region below it",
        query=(THREAT_QUERY,),
    ),
)


@dataclass(frozen=True, slots=True)
class _Template:
    pattern: re.Pattern[str]
    entries: dict[str, Entry] = field(default_factory=dict)


class Router:
    """Which entry of the table a request is for; pure, so the front's core can use it."""

    def __init__(self, table: Sequence[Entry] = TABLE) -> None:
        self.exact: dict[str, dict[str, Entry]] = {}
        self.templates: dict[str, _Template] = {}
        for entry in table:
            if "{" in entry.path:
                template = self.templates.setdefault(entry.path, _Template(_compile(entry.path)))
                target = template.entries
            else:
                target = self.exact.setdefault(entry.path, {})
            for method in entry.methods:
                target[method] = entry

    def match(self, method: str, path: str) -> tuple[Entry, dict[str, str]] | None:
        """The entry for this method and raw (undecoded) path, with its decoded path
        parameters; None: the app answers (another route, or the wrong method)."""
        found = self.exact.get(path)
        if found is not None:
            entry = found.get(method)
            return None if entry is None else (entry, {})
        for template in self.templates.values():
            matched = template.pattern.fullmatch(path)
            if matched is not None:
                entry = template.entries.get(method)
                if entry is None:
                    return None
                return entry, {
                    k: str(int(v)) if v.isdigit() and f"{{{k}:int}}" in entry.path else unquote(v)
                    for k, v in matched.groupdict().items()
                }
        return None


def _compile(path: str) -> re.Pattern[str]:
    """A path template as a regex: `{name}` is one segment, `{name:int}` digits (as in
    Starlette, whose routes the app builds from the same templates)."""
    parts = re.split(r"\{(\w+(?::int)?)\}", path)
    regex = ""
    for i, part in enumerate(parts):
        if i % 2 == 0:
            regex += re.escape(part)
        elif part.endswith(":int"):
            regex += f"(?P<{part[:-4]}>[0-9]+)"
        else:
            regex += f"(?P<{part}>[^/]+)"
    return re.compile(regex)


def query_pairs(query: bytes | str) -> list[tuple[str, str]]:
    text = query.decode("latin-1") if isinstance(query, bytes) else query
    return parse_qsl(text, keep_blank_values=True)
