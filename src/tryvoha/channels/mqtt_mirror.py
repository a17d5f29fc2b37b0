"""What the broker holds on tryvoha's retained topics, and what to publish so that it holds
the truth. The MQTT channel's decisions, without a socket: the driver (`mqtt.py`) tells
it what the broker said and what it acknowledged, and asks it what to publish.

The rules:
- Every retained topic the broker should hold: the country's and each oblast's state,
  each Home Assistant region's, and every other region's once it is not clear (a region
  that clears gets an explicit clear payload, kept); `oblasts`, `oblasts.json`; the Home
  Assistant configs; `status` once the publisher is online.
- A payload is published only when the broker does not hold the same body already, and
  never when the broker's payload has a higher seq than the state we would publish:
  a publisher whose view is behind the broker's (it restarted on a log that others have
  moved on, or it lags another writer) never sets a device back.
- Retained payloads of ours the broker holds for no region we know, or Home Assistant
  configs of regions no longer asked for, are removed (an empty retained message).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass

from tryvoha.domain.alerts import ThreatType
from tryvoha.domain.events import Event, Seq
from tryvoha.domain.projection import Bearings, Projection
from tryvoha.domain.regions import Level, RegionId, RegionTree
from tryvoha.protocol import mqtt as wire
from tryvoha.protocol import mqtt_ha as ha
from tryvoha.protocol.compat_locations import Locations

_LEVELS = {level: i for i, level in enumerate(Level)}


@dataclass(frozen=True, slots=True)
class Publication:
    topic: str
    payload: bytes  # empty and retained: the broker forgets the topic
    retain: bool = True


@dataclass(frozen=True, slots=True)
class Setup:
    """What one publisher publishes (from the settings)."""

    topics: wire.Topics
    tree: RegionTree
    locations: Locations
    ha_regions: tuple[RegionId, ...] = ()
    ha_prefix: str = "homeassistant"
    public_url: str = ""


def affected(tree: RegionTree, events: Iterable[Event]) -> set[RegionId]:
    """The regions whose state events may have changed: each one's region, the regions
    above it and below it."""
    regions: set[RegionId] = set()
    for event in events:
        regions |= tree.lineage(event.alert.region_id)
    return regions


class Mirror:
    def __init__(self, setup: Setup) -> None:
        self.setup = setup
        self.topics = setup.topics
        tree = setup.tree
        top = [r.id for r in tree if r.level in (Level.COUNTRY, Level.OBLAST)]
        self.always = frozenset((*top, *setup.ha_regions))
        self.order = wire.OblastOrder.of(setup.locations)
        self.node = ha.node_id(self.topics.prefix)
        self.ha_configs = {
            ha.config_topic(setup.ha_prefix, self.node, region_id, threat): ha.config(
                self.topics, self.node, tree.get(region_id), threat, setup.public_url
            )
            for region_id in setup.ha_regions
            for threat in ThreatType
        }
        self._ha_head = f"{setup.ha_prefix}/{ha.COMPONENT}/{self.node}/"
        self.held: dict[str, bytes] = {}  # retained payloads the broker holds, as far as known
        self._read: dict[str, tuple[wire.JSON, Seq] | None] = {}  # `held`, parsed (a cache)
        self._rank = {r.id: (_LEVELS[r.level], r.id) for r in tree}  # publication order
        self._held_regions: dict[RegionId, str] = {}  # region id -> its topic, among `held`
        self.online = False  # `status` should say online

    # -- what the broker says -----------------------------------------------------------

    def filters(self) -> list[str]:
        """What the publisher subscribes to: every retained topic it publishes."""
        topics = self.topics
        found = [topics.regions, topics.oblasts, topics.oblasts_json, topics.status]
        if self.ha_configs:
            found.append(ha.configs_filter(self.setup.ha_prefix, self.node))
        return found

    def reset(self) -> None:
        """A new connection: nothing is known of the broker yet."""
        self.held.clear()
        self._read.clear()
        self._held_regions.clear()
        self.online = False

    def hear(self, topic: str, payload: bytes) -> None:
        """The broker holds this retained payload (empty: it holds nothing there)."""
        named = self.topics.region_of(topic)
        region_id = None if named is None else RegionId(named)
        self._read.pop(topic, None)
        if payload:
            self.held[topic] = payload
            if region_id is not None:
                self._held_regions[region_id] = topic
        else:
            self.held.pop(topic, None)
            if region_id is not None:
                self._held_regions.pop(region_id, None)

    def published(self, publications: Iterable[Publication]) -> None:
        """The broker acknowledged these."""
        for p in publications:
            if p.retain:
                self.hear(p.topic, p.payload)

    def broker_seq(self) -> Seq:
        """The highest seq among the payloads the broker holds: the state it has seen."""
        best = 0
        for topic in (*self._held_regions.values(), self.topics.oblasts_json):
            found = self._held_payload(topic)
            if found is not None:
                best = max(best, found[1])
        return Seq(best)

    def _held_payload(self, topic: str) -> tuple[wire.JSON, Seq] | None:
        """The broker's payload on a topic, read (None: none, or not one of ours)."""
        if topic in self._read:
            return self._read[topic]
        found = self._read[topic] = wire.read_payload(self.held.get(topic, b""))
        return found

    # -- what to publish ----------------------------------------------------------------

    def plan(
        self, projection: Projection, regions: Collection[RegionId] | None = None
    ) -> Iterator[Publication]:
        """What to publish so the broker holds the projection's state: of every topic
        (None), or of these regions' topics (the ones a batch of events touched) and the
        oblasts. A generator over a snapshot of the state taken when it is called: the
        driver interleaves making payloads with sending them (a nationwide change is
        ~1,900 of them)."""
        seq = projection.seq
        tree = self.setup.tree
        bearings = projection.bearings(tree)
        oblasts = self._oblasts(projection, seq, bearings)
        wanted = self.always | bearings.states.keys() | self._held_regions.keys()
        targets = wanted if regions is None else wanted & set(regions)
        rank = self._rank
        known = sorted((r for r in targets if r in rank), key=rank.__getitem__)
        others = self._strays(tree) + self._ha() if regions is None else []
        status = self.online and self.held.get(self.topics.status) != wire.ONLINE
        return self._publications(bearings, seq, oblasts, known, others, status)

    def _publications(
        self,
        bearings: Bearings,
        seq: int,
        first: list[Publication],
        known: list[RegionId],
        last: list[Publication],
        status: bool,
    ) -> Iterator[Publication]:
        yield from first
        bodies = wire.Bodies(bearings)
        for region_id in known:
            topic = self.topics.region(region_id)
            held = self._held_payload(topic)
            if held is not None and held[1] > seq:
                continue  # the broker's is newer: never set it back
            if held is not None and held[0] == bodies(region_id):
                continue  # the broker has it
            yield Publication(topic, bodies.payload(region_id, seq))
        yield from last
        if status:
            yield Publication(self.topics.status, wire.ONLINE)

    def _oblasts(self, projection: Projection, seq: int, bearings: Bearings) -> list[Publication]:
        """`oblasts.json`, and the `oblasts` string with it (the string has no seq of its
        own: it goes with the JSON's)."""
        setup = self.setup
        body = wire.oblasts_body(
            projection, setup.tree, setup.locations, self.order, bearings.states
        )
        held = self._held_payload(self.topics.oblasts_json)
        if held is not None and held[1] > seq:
            return []
        plan = []
        if held is None or held[0] != body:
            plan.append(Publication(self.topics.oblasts_json, wire.with_seq(body, seq)))
        letters = str(body["oblasts"]).encode()
        if self.held.get(self.topics.oblasts) != letters:
            plan.append(Publication(self.topics.oblasts, letters))
        return plan

    def _strays(self, tree: RegionTree) -> list[Publication]:
        """Removals of region topics of ours that name no region we know."""
        return [
            Publication(topic, b"")
            for region_id, topic in sorted(self._held_regions.items())
            if region_id not in tree
        ]

    def _ha(self) -> list[Publication]:
        """Home Assistant configs that differ, and removals of those no longer wanted."""
        plan = [
            Publication(topic, payload)
            for topic, payload in self.ha_configs.items()
            if self.held.get(topic) != payload
        ]
        plan += [
            Publication(topic, b"")
            for topic in sorted(self.held)
            if topic.startswith(self._ha_head)
            and topic.endswith("/config")
            and topic not in self.ha_configs
        ]
        return plan
