"""Atom 1.0 (RFC 4287) index feeds of CAP messages, the form alert hubs read (no I/O).

Each entry is one CAP message: a title and a summary for people, and a link with
rel="alternate" and type="application/cap+xml" to the full message, as CAP feeds
(NWS, Google Public Alerts' examples) do. The same entries give the same bytes. The XML is
written from templates with every text and attribute escaped: an entry is a few hundred
bytes that the feed joins, which is cheaper than building a tree per request (the tests
read the result with lxml and feedparser).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.sax.saxutils import escape, quoteattr

NS = "http://www.w3.org/2005/Atom"
CONTENT_TYPE = "application/atom+xml"
GENERATOR = "tryvoha"
NEVER = datetime(1970, 1, 1, tzinfo=UTC)  # the <updated> of a feed that never had an entry
FEED_LANG_PLACEHOLDER = ""  # an entry in the feed's own language has no xml:lang


@dataclass(frozen=True, slots=True)
class Entry:
    id: str  # an IRI that never changes
    title: str
    summary: str
    updated: datetime
    published: datetime
    link: str  # the CAP message
    lang: str  # of the title ("" for the feed's own language)
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


def _text(tag: str, value: str, indent: str) -> str:
    return f"{indent}<{tag}>{escape(value)}</{tag}>\n"


def entry(e: Entry) -> bytes:
    """One entry's bytes: built once per message and kept by the caller, so a feed of a
    thousand entries is joined, not rebuilt, when one of them changes."""
    lang = "" if e.lang == FEED_LANG_PLACEHOLDER else f" xml:lang={quoteattr(e.lang)}"
    summary_lang = "" if e.summary_lang == e.lang else f" xml:lang={quoteattr(e.summary_lang)}"
    out = [
        f"  <entry{lang}>\n",
        _text("id", e.id, "    "),
        _text("title", e.title, "    "),
        _text("updated", atom_time(e.updated), "    "),
        _text("published", atom_time(e.published), "    "),
        f"    <summary{summary_lang}>{escape(e.summary)}</summary>\n",
        *(f"    <category term={quoteattr(term)}/>\n" for term in e.categories),
        f'    <link rel="alternate" type="application/cap+xml" href={quoteattr(e.link)}/>\n',
        "  </entry>\n",
    ]
    return "".join(out).encode()


def feed(meta: Meta, updated: datetime, entries: Sequence[bytes]) -> bytes:
    """The feed around entries made by `entry`, in the order given (newest first).
    `updated`: the newest entry's time (not the clock's), so every process at the same
    state sends the same bytes under the same ETag."""
    head = [
        "<?xml version='1.0' encoding='UTF-8'?>\n",
        f'<feed xmlns="{NS}" xml:lang={quoteattr(meta.lang)}>\n',
        _text("id", meta.id, "  "),
        _text("title", meta.title, "  "),
        _text("updated", atom_time(updated), "  "),
        f"  <author>\n{_text('name', meta.author, '    ')}  </author>\n",
        _text("generator", GENERATOR, "  "),
    ]
    if meta.self_link:
        head.append(
            f'  <link rel="self" type="{CONTENT_TYPE}" href={quoteattr(meta.self_link)}/>\n'
        )
    return "".join(head).encode() + b"".join(entries) + b"</feed>\n"
