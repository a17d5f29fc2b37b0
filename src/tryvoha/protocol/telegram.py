"""Telegram posts and direct messages: what an event, or a few made together, says.

Pure: events in, text out, in the style people know from the alert channels they read
(`🔴 Повітряна тривога: м. Київ`, `🟢 Відбій тривоги: м. Київ` with how long it lasted,
`🟡` for the yellow level), in Ukrainian or English. No I/O, no clock: what a text needs
beyond its events (region names, the tree, the oblasts already under alert) is passed in.

- `group_events`: consecutive events one request made together (a declare naming many
  regions, a clear that ended them together) are one group, and one post: a nationwide
  declare is one post naming "вся Україна" and the count, not 27.
- `group_text`: a group's text in one language.
- `compose`: one message of several texts, as many as fit in Telegram's 4,096 characters.
- `parse_channel`: a `--telegram-channel` value, `CHAT[:LANG][=REGION,REGION...]`.

The words are the catalogues' (`tryvoha.i18n`): the threat names, headlines and kinds the
pages and CAP messages use, and `tg.*` for what only Telegram says.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tryvoha.domain.alerts import AlertLevel, ThreatKind, ThreatType
from tryvoha.domain.errors import UnknownRegionError
from tryvoha.domain.events import Event, EventType, Seq
from tryvoha.domain.regions import Level, RegionId, RegionTree
from tryvoha.i18n import Catalogue
from tryvoha.i18n.formats import clock_text, duration_text

MESSAGE_CHARS = 4096  # Telegram's limit on one message's text
MAX_NAMED = 30  # a group names at most this many regions, then "and N more"
SEPARATOR = "\n\n"  # between the texts of one message

EMOJI_RED = "🔴"
EMOJI_YELLOW = "🟡"
EMOJI_CLEAR = "🟢"

Names = Callable[[RegionId, str], str]  # a region's name as the pages write it, per language


@dataclass(frozen=True, slots=True)
class Group:
    """Events one request made together, in seq order: one post."""

    events: tuple[Event, ...]

    @property
    def first(self) -> Event:
        return self.events[0]

    @property
    def last_seq(self) -> Seq:
        return self.events[-1].seq

    @property
    def regions(self) -> list[RegionId]:
        return [e.alert.region_id for e in self.events]


def _together(event: Event) -> tuple[Any, ...]:
    """Events with the same key, one after another, were made by one request and say the
    same thing of different regions."""
    alert = event.alert
    if event.type is EventType.CLEARED:
        return (event.type, event.at, event.issuer, alert.threat)
    kinds = frozenset(t.kind for t in alert.threats)
    return (event.type, event.at, event.issuer, alert.threat, alert.level, kinds, alert.message)


def group_events(events: Iterable[Event]) -> list[Group]:
    groups: list[Group] = []
    current: list[Event] = []
    key: tuple[Any, ...] | None = None
    for event in events:
        this = _together(event)
        if current and this != key:
            groups.append(Group(tuple(current)))
            current = []
        current.append(event)
        key = this
    if current:
        groups.append(Group(tuple(current)))
    return groups


@dataclass(frozen=True, slots=True)
class Wording:
    """What a text needs besides its events: the tree and the names of its regions."""

    tree: RegionTree
    name: Names
    oblasts: frozenset[RegionId] = field(init=False)

    def __post_init__(self) -> None:
        found = frozenset(r.id for r in self.tree.at_level(Level.OBLAST))
        object.__setattr__(self, "oblasts", found)


def group_text(
    group: Group, t: Catalogue, wording: Wording, already: frozenset[RegionId] = frozenset()
) -> str:
    """The post for one group in `t`'s language. `already`: the oblasts under an alert of
    the same threat type from before this group (a declare for "the whole country" names
    only the oblasts not yet under alert: with them it is still "вся Україна")."""
    first = group.first
    alert = first.alert
    regions = group.regions
    cleared = first.type is EventType.CLEARED
    others = (already & wording.oblasts) - set(regions)
    whole = (
        len(regions) > 1
        and set(regions) <= wording.oblasts
        and set(regions) | others >= wording.oblasts
    )
    lines = [_headline(group, t, wording, whole)]
    durations = [
        duration_text(t, (e.at - e.alert.started_at).total_seconds()) for e in group.events
    ]
    listed = cleared and len(set(durations)) > 1  # each region with how long it lasted
    if whole:
        count = t("tg.count.oblast", n=len(regions))
        lines.append(f"{count}, {t('tg.already', n=len(others))}" if others else count)
    if len(regions) > 1 and (listed or not whole):
        lines.extend(_named(group, t, wording, durations if listed else None))
    lines.append(_when(group, t, None if listed else durations[0]))
    if not cleared:
        kinds = {th.kind for th in alert.threats}
        if kinds:
            named = ", ".join(t(f"kind.{k.value}") for k in ThreatKind if k in kinds)
            lines.append(t("cap.threats", kinds=named))
        said = alert.message.in_language(t.lang) if alert.message else None
        if said:
            lines.append(said)
    return _cut("\n".join(lines))


def _headline(group: Group, t: Catalogue, wording: Wording, whole: bool) -> str:
    first = group.first
    alert = first.alert
    regions = group.regions
    if whole:
        area = t("tg.whole_country")
    elif len(regions) == 1:
        area = wording.name(regions[0], t.lang)
    else:
        area = _count(regions, t, wording.tree)
    threat = t(f"threat.{alert.threat.value}")
    if first.type is EventType.CLEARED:
        if alert.threat is ThreatType.AIR_RAID:
            return f"{EMOJI_CLEAR} {t('tg.clear.air_raid', area=area)}"
        return f"{EMOJI_CLEAR} {t('cap.headline.clear', area=area, threat=threat)}"
    emoji = EMOJI_YELLOW if alert.level is AlertLevel.YELLOW else EMOJI_RED
    text = f"{emoji} {t(f'cap.headline.{alert.level.value}', threat=threat, area=area)}"
    return f"{text} · {t('tg.updated')}" if first.type is EventType.UPDATED else text


def _count(regions: Sequence[RegionId], t: Catalogue, tree: RegionTree) -> str:
    levels = {tree.get(r).level for r in regions}
    level = levels.pop() if len(levels) == 1 else None
    named = level in (Level.OBLAST, Level.RAION, Level.HROMADA)
    return t(f"tg.count.{level.value if level and named else 'region'}", n=len(regions))


def _named(
    group: Group, t: Catalogue, wording: Wording, durations: Sequence[str] | None
) -> list[str]:
    names = [wording.name(r, t.lang) for r in group.regions]
    rest = len(names) - MAX_NAMED
    more = [t("tg.and_more", n=rest)] if rest > 0 else []
    if durations is None:
        shown = ", ".join(names[:MAX_NAMED])
        return [f"{shown} {more[0]}" if more else shown]
    return [f"{n} — {d}" for n, d in zip(names[:MAX_NAMED], durations, strict=False)] + more


def _when(group: Group, t: Catalogue, lasted: str | None) -> str:
    first = group.first
    time = clock_text(first.at)
    if first.type is EventType.DECLARED:
        return t("tg.declared_at", time=time)
    if first.type is EventType.UPDATED:
        return t("tg.updated_at", time=time)
    at = t("tg.cleared_at", time=time)
    return f"{at}, {t('tg.lasted', d=lasted)}" if lasted else at


def _cut(text: str, limit: int = MESSAGE_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def compose(texts: Sequence[str], limit: int = MESSAGE_CHARS) -> tuple[str, int]:
    """One message of the first texts that fit in `limit` characters (at least one, cut
    if it alone is too long), and how many it holds: the rest go in the next message."""
    if not texts:
        return "", 0
    message = _cut(texts[0], limit)
    count = 1
    for text in texts[1:]:
        longer = message + SEPARATOR + text
        if len(longer) > limit:
            break
        message, count = longer, count + 1
    return message, count


# -- --telegram-channel ---------------------------------------------------------------

CHANNEL_LANGUAGES = ("uk", "en")
CHANNEL_CURSOR = "telegram:channel:"  # + the chat: how far a channel has been posted
_CHAT = re.compile(r"@[A-Za-z][A-Za-z0-9_]{3,31}|-?[0-9]{1,20}")


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    """A channel (or group) to post to, its language, and the regions it is about."""

    chat: str  # "@name" or a numeric id such as "-1001234567890"
    lang: str = "uk"
    regions: tuple[RegionId, ...] = ()  # none: every region

    @property
    def chat_id(self) -> int | str:
        return self.chat if self.chat.startswith("@") else int(self.chat)

    @property
    def cursor(self) -> str:
        """The name of this channel's cursor in the store."""
        return f"{CHANNEL_CURSOR}{self.chat}"

    def __str__(self) -> str:
        lang = "" if self.lang == "uk" else f":{self.lang}"
        regions = f"={','.join(self.regions)}" if self.regions else ""
        return f"{self.chat}{lang}{regions}"


def parse_channel(text: str, tree: RegionTree) -> ChannelSpec:
    """`@name`, `-1001234567890`, `@name:en`, `@kyiv_alerts=Kyiv`, `@west:en=Lviv,Volyn`;
    a region is a KATOTTG id or a name as `tryvoha declare --region` takes it."""
    head, has_filter, wanted = text.strip().partition("=")
    chat, has_lang, lang = head.strip().partition(":")
    chat = chat.strip()
    if not _CHAT.fullmatch(chat):
        raise ValueError(
            f"'{chat}' is not a channel: give @name (5 to 32 letters, digits or _) or a numeric chat id"
        )
    lang = lang.strip() if has_lang else "uk"
    if lang not in CHANNEL_LANGUAGES:
        raise ValueError(f"'{lang}' is not a language for posts: uk or en")
    regions: list[RegionId] = []
    if has_filter:
        for name in wanted.split(","):
            if not name.strip():
                raise ValueError(f"'{text}' has an empty region in its filter")
            try:
                regions.append(tree.resolve(name.strip()).id)
            except UnknownRegionError as e:
                raise ValueError(e.detail) from None
    return ChannelSpec(chat, lang, tuple(dict.fromkeys(regions)))


def split_channels(text: str) -> list[str]:
    """The channels of one TRYVOHA_TELEGRAM_CHANNEL value: separated by `;` or new lines."""
    return [part.strip() for part in re.split(r"[;\n]", text) if part.strip()]
