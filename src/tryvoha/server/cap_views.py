"""CAP messages and the Atom feed as ready bytes: each message built once, the feed once
per change.

A message is a function of its event, the earlier events of its alert and the settings,
so its bytes are kept (up to MESSAGE_CACHE_BYTES) and served again with a strong ETag.
The feed is a function of the current state: `feed_document(now)` gives the same bytes
until a new event arrives or an ended alert leaves the window, so the HTTP front can serve
it from its table of hot routes like /api/v1/alerts/active.

The feed lists the newest message of every live alert that is active or ended within
`cap_feed_hours`: an Update supersedes the messages it references, so a reader needs only
the newest (it names the earlier ones). Alerts imported from the historical record
(issuer `history:...`) have messages too — they are real past alerts — but stay out of the
feed, as they stay out of the live streams.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

import orjson

from tryvoha import i18n
from tryvoha.config import Settings
from tryvoha.domain.events import Event, EventType, Seq, is_historical
from tryvoha.domain.regions import Level, RegionId, RegionTree
from tryvoha.engine.feed import Feed
from tryvoha.geo.areas import area_of, cap_areas
from tryvoha.protocol import atom, cap, cap_sign
from tryvoha.protocol.cap_sign import Signer
from tryvoha.protocol.wire import decode_event
from tryvoha.server.answers import LIVE_MAX_AGE, STATIC_MAX_AGE, Cached
from tryvoha.store.base import HistoryQuery, Store

MESSAGE_CACHE_BYTES = 16 * 1024 * 1024
SEED_PAGE = 1000
ALERT_EVENT_TYPES = frozenset(t.value for t in EventType)
CAP_LANGUAGES = ("uk", "en")


def etag_of(prefix: str, body: bytes) -> str:
    """Strong, and the same in every process that built the same bytes."""
    return f'"{prefix}{hashlib.blake2b(body, digest_size=10).hexdigest()}"'


def cap_settings(settings: Settings) -> cap.CapSettings:
    hours = settings.cap_expires_hours
    return cap.CapSettings(
        sender=settings.cap_sender,
        status=settings.cap_status,
        expires_after=timedelta(hours=hours) if hours else None,
        web=settings.public_url or None,
    )


def cap_area(tree: RegionTree, region_id: RegionId) -> cap.CapArea:
    """The <area> of a region: its names with its parents', its KATOTTG code and its
    shipped outline (or the nearest one above it). Loads the outlines on first use."""
    region = tree.get(region_id)
    chain = [
        tree.get(r)
        for r in (region.id, *tree.ancestors(region.id))
        if tree.get(r).level is not Level.COUNTRY
    ]
    shape = area_of(cap_areas(), tree, region.id)
    return cap.CapArea(
        region_id=region.id,
        names={"uk": region.name_uk, "en": region.name_en},
        descriptions={
            "uk": ", ".join(r.name_uk for r in chain),
            "en": ", ".join(r.name_en for r in chain),
        },
        polygons=() if shape is None else shape.polygons(),
    )


def message_path(seq: int) -> str:
    return f"/cap/messages/{seq}.xml"


class FeedIndex:
    """The newest live event of every alert that may be in the feed."""

    def __init__(self, window: timedelta) -> None:
        self.window = window
        self.seq = 0  # the newest event seen
        self.latest: dict[str, Event] = {}

    def add(self, events: Sequence[Event]) -> None:
        for event in events:
            self.seq = max(self.seq, event.seq)
            if is_historical(event.issuer):
                continue
            held = self.latest.get(event.alert.id)
            if held is None or held.seq < event.seq:
                self.latest[event.alert.id] = event

    def current(self, now: datetime) -> tuple[list[Event], datetime | None]:
        """Entries newest first, and when the next one leaves the window (None: never)."""
        leaving: datetime | None = None
        for alert_id, event in list(self.latest.items()):
            ended = event.alert.ended_at
            if ended is None:
                continue
            gone = ended + self.window
            if gone <= now:
                del self.latest[alert_id]
            elif leaving is None or gone < leaving:
                leaving = gone
        entries = sorted(self.latest.values(), key=lambda e: (e.at, e.seq), reverse=True)
        return entries, leaving


class CapViews:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        tree: RegionTree,
        feed: Feed,
        signer: Signer | None = None,
    ) -> None:
        self.settings = settings
        self.options = cap_settings(settings)
        self.store = store
        self.tree = tree
        self.feed = feed
        self.signer = signer
        self.catalogues: Mapping[str, i18n.Catalogue] = {
            lang: i18n.catalogue(lang) for lang in CAP_LANGUAGES
        }
        self.index = FeedIndex(timedelta(hours=settings.cap_feed_hours))
        self._messages: OrderedDict[int, Cached] = OrderedDict()
        self._cached_bytes = 0
        self._building: dict[int, asyncio.Future[Cached | None]] = {}
        self._feed: tuple[Cached, datetime | None] | None = None
        self._entries: dict[int, bytes] = {}  # seq -> the feed entry of its message

    # -- start and stop -----------------------------------------------------------

    async def start(self, now: datetime) -> None:
        """Listen first, then read what the store holds, so nothing falls in between."""
        self.feed.listen(self._on_events)
        since = now - self.index.window
        cursor: str | None = None
        while True:
            page = await self.store.alert_history(
                HistoryQuery(since=since, cursor=cursor, limit=SEED_PAGE)
            )
            ids = [a.id for a in page.alerts if not is_historical(a.issuer)]
            if ids:
                self.index.add([decode_event(r) for r in await self.store.events_of_alerts(ids)])
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        self.index.seq = max(self.index.seq, self.feed.seq)

    def close(self) -> None:
        self.feed.unlisten(self._on_events)

    def _on_events(self, batch: Sequence[tuple[Event, bytes]]) -> None:
        self.index.add([event for event, _ in batch])

    # -- messages -------------------------------------------------------------------

    async def message(self, seq: int) -> Cached | None:
        """The message of event `seq`; None when there is no such alert event."""
        cached = self._messages.get(seq)
        if cached is not None:
            self._messages.move_to_end(seq)
            return cached
        building = self._building.get(seq)
        if building is not None:
            return await asyncio.shield(building)
        future: asyncio.Future[Cached | None] = asyncio.get_running_loop().create_future()
        self._building[seq] = future
        try:
            document = await self._build_message(seq)
            future.set_result(document)
        except BaseException as e:
            future.set_exception(e)
            future.exception()  # retrieved: nobody else may be waiting
            raise
        finally:
            del self._building[seq]
        if document is not None:
            self._remember(document)
        return document

    async def newest_of(self, alert_id: str) -> Cached | None:
        """The newest message of an alert; None for an alert with no events."""
        raws = await self.store.events_of_alerts([alert_id])
        if not raws:
            return None
        document = await self.message(decode_event(raws[-1]).seq)
        if document is None:
            return None
        return Cached(
            document.seq, document.body, document.etag, LIVE_MAX_AGE, document.content_type
        )

    async def _build_message(self, seq: int) -> Cached | None:
        if seq < 1:
            return None
        raws = await self.store.read_events(Seq(seq - 1), 1)
        if not raws:
            return None
        head = orjson.loads(raws[0])
        if head.get("seq") != seq or head.get("type") not in ALERT_EVENT_TYPES:
            return None
        event = decode_event(raws[0])
        history = await self.store.events_of_alerts([event.alert.id])
        earlier = [e for e in map(decode_event, history) if e.seq < seq]
        body = await asyncio.to_thread(self._render, event, earlier)
        return Cached(seq, body, etag_of("c", body), STATIC_MAX_AGE, cap.CONTENT_TYPE)

    def _render(self, event: Event, earlier: list[Event]) -> bytes:
        """In a worker thread: the area's polygons and lxml take a few milliseconds."""
        root = cap.build(
            event,
            earlier,
            cap_area(self.tree, event.alert.region_id),
            self.options,
            self.catalogues,
        )
        if self.signer is None:
            return cap.to_bytes(root)
        return cap.to_bytes(self.signer(cap.parse_xml(cap.to_bytes(root))), pretty=False)

    def _remember(self, document: Cached) -> None:
        self._messages[document.seq] = document
        self._cached_bytes += len(document.body)
        while self._cached_bytes > MESSAGE_CACHE_BYTES and len(self._messages) > 1:
            _, old = self._messages.popitem(last=False)
            self._cached_bytes -= len(old.body)

    # -- the feed -------------------------------------------------------------------

    def feed_document(self, now: datetime) -> Cached:
        """The Atom feed as of now: rebuilt only after a new event or when an ended
        alert leaves the window."""
        self._catch_up()
        held = self._feed
        if held is not None:
            document, leaving = held
            if document.seq == self.index.seq and (leaving is None or now < leaving):
                return document
        seq = self.index.seq
        events, leaving = self.index.current(now)
        entries = [self._entry(e) for e in events]
        if len(self._entries) > 2 * len(entries) + 64:  # forget entries that left the feed
            keep = {e.seq for e in events}
            self._entries = {k: v for k, v in self._entries.items() if k in keep}
        updated = events[0].at if events else atom.NEVER
        body = atom.feed(self._feed_meta(), updated, entries)
        document = Cached(seq, body, etag_of("f", body), LIVE_MAX_AGE, atom.CONTENT_TYPE)
        self._feed = (document, leaving)
        return document

    def _catch_up(self) -> None:
        """Events applied but not yet announced (a write's answer goes out before its
        fan-out): the feed shows them at once, as /api/v1/alerts/active does."""
        if self.feed.seq <= self.index.seq:
            return
        missing = self.feed.applied_after(self.index.seq)
        self.index.add([decode_event(r.raw) for r in missing])

    def _feed_meta(self) -> atom.Meta:
        base = self.settings.public_url.rstrip("/")
        return atom.Meta(
            id=atom.urn(self.options.sender, "cap-feed"),
            title=self.catalogues["uk"]("cap.feed.title"),
            author=self.options.sender,
            lang="uk",
            self_link=f"{base}/cap/feed.atom" if base else None,
        )

    def _entry(self, event: Event) -> bytes:
        """An entry's bytes, made once per message."""
        cached = self._entries.get(event.seq)
        if cached is None:
            cached = self._entries[event.seq] = atom.entry(self._entry_of(event))
        return cached

    def _entry_of(self, event: Event) -> atom.Entry:
        alert = event.alert
        region = self.tree.get(alert.region_id)
        uk, en = self.catalogues["uk"], self.catalogues["en"]
        base = self.settings.public_url.rstrip("/")
        return atom.Entry(
            id=atom.urn(self.options.sender, cap.identifier(alert.id, event.seq)),
            title=cap.headline(uk, event.type, alert.threat, alert.level, region.name_uk),
            summary=cap.headline(en, event.type, alert.threat, alert.level, region.name_en),
            updated=event.at,
            published=event.at,
            link=base + message_path(event.seq),
            lang=atom.FEED_LANG_PLACEHOLDER,  # the feed's: Ukrainian
            summary_lang="en",
            categories=(alert.threat.value, alert.level.value, event.type.value),
        )


def signer_from(settings: Settings) -> Signer | None:
    """The signer the settings name (both files), or None when messages go unsigned."""
    if not settings.cap_sign_key:
        return None
    with open(settings.cap_sign_key, "rb") as key, open(settings.cap_sign_cert, "rb") as cert:
        return cap_sign.signer(key.read(), cert.read())
