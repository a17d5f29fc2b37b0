"""Atom 1.0 (RFC 4287) index feeds of CAP messages, the form alert hubs read (no I/O).

Each entry is one CAP message: a title and a summary for people, and a link with
rel="alternate" and type="application/cap+xml" to the full message, as CAP feeds
(NWS, Google Public Alerts' examples) do. The same entries give the same bytes.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from lxml import etree

NS = "http://www.w3.org/2005/Atom"
CONTENT_TYPE = "application/atom+xml"
GENERATOR = "tryvoha"
NEVER = datetime(1970, 1, 1, tzinfo=UTC)  # the <updated> of a feed that never had an entry


@dataclass(frozen=True, slots=True)
class Entry:
    id: str  # an IRI that never changes
    title: str
    summary: str
    updated: datetime
    published: datetime
    link: str  # the CAP message
    lang: str  # of the title
    summary_lang: str  # of the summary
    categories: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Meta:
    id: str
    title: str
    author: str
    lang: str
    self_link: str | None = None  # the feed's own absolute URL, when known


def atom_time(moment: datetime) -> str:
    """RFC 3339 in UTC, whole seconds: 2024-11-13T04:47:00Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def urn(*parts: str) -> str:
    """A stable IRI for an id made of names: the same parts give the same urn:uuid."""
    return uuid.uuid5(uuid.NAMESPACE_URL, "tryvoha:" + "\x1f".join(parts)).urn


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> None:
    child = etree.SubElement(parent, f"{{{NS}}}{tag}", attrs)
    if text is not None:
        child.text = text


def feed(meta: Meta, entries: Sequence[Entry]) -> bytes:
    """The feed, entries in the order given (newest first, by the caller)."""
    root = etree.Element(f"{{{NS}}}feed", nsmap={None: NS})  # type: ignore[dict-item]
    root.set("{http://www.w3.org/XML/1998/namespace}lang", meta.lang)
    _sub(root, "id", meta.id)
    _sub(root, "title", meta.title)
    # the newest entry's time (not the clock's): every process at the same state sends
    # the same bytes, so the ETag is the same everywhere
    _sub(root, "updated", atom_time(max((e.updated for e in entries), default=NEVER)))
    author = etree.SubElement(root, f"{{{NS}}}author")
    _sub(author, "name", meta.author)
    _sub(root, "generator", GENERATOR)
    if meta.self_link:
        _sub(root, "link", rel="self", type=CONTENT_TYPE, href=meta.self_link)
    for e in entries:
        entry = etree.SubElement(root, f"{{{NS}}}entry")
        if e.lang != meta.lang:
            entry.set("{http://www.w3.org/XML/1998/namespace}lang", e.lang)
        _sub(entry, "id", e.id)
        _sub(entry, "title", e.title)
        _sub(entry, "updated", atom_time(e.updated))
        _sub(entry, "published", atom_time(e.published))
        _sub(entry, "summary", e.summary)
        if e.summary_lang != e.lang:
            entry[-1].set("{http://www.w3.org/XML/1998/namespace}lang", e.summary_lang)
        for term in e.categories:
            _sub(entry, "category", term=term)
        _sub(entry, "link", rel="alternate", type="application/cap+xml", href=e.link)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
