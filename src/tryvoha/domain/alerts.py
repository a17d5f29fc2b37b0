"""Alerts: threat types, levels, threat detail, messages, and the alert value itself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import NewType

from tryvoha.domain.regions import RegionId

AlertId = NewType("AlertId", str)


class ThreatType(StrEnum):
    """What kind of alert: the set the Ukrainian services use."""

    AIR_RAID = "air_raid"
    ARTILLERY_SHELLING = "artillery_shelling"
    URBAN_FIGHTS = "urban_fights"
    CHEMICAL = "chemical"
    NUCLEAR = "nuclear"


class AlertLevel(StrEnum):
    RED = "red"  # take shelter now
    YELLOW = "yellow"  # elevated danger, e.g. a threat in a neighbouring region

    def outranks(self, other: AlertLevel) -> bool:
        return self is AlertLevel.RED and other is AlertLevel.YELLOW


class ThreatKind(StrEnum):
    """What is coming, when the issuer knows it."""

    BALLISTIC_MISSILES = "ballistic_missiles"
    CRUISE_MISSILES = "cruise_missiles"
    HYPERSONIC_MISSILES = "hypersonic_missiles"
    DRONES = "drones"
    GUIDED_AERIAL_BOMBS = "guided_aerial_bombs"
    AVIATION = "aviation"
    MIG31K_DEPARTURE = "mig31k_departure"
    NAVAL_MISSILE_CARRIERS = "naval_missile_carriers"


@dataclass(frozen=True, slots=True)
class Threat:
    kind: ThreatKind
    started_at: datetime
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Message:
    uk: str | None
    en: str | None

    def in_language(self, lang: str) -> str | None:
        """The issuer's words for a reader of `lang`: Ukrainian for Ukrainian readers,
        English for everyone else, each falling back to the other."""
        return (self.uk or self.en) if lang == "uk" else (self.en or self.uk)


@dataclass(frozen=True, slots=True)
class Alert:
    id: AlertId
    region_id: RegionId
    threat: ThreatType
    level: AlertLevel
    threats: tuple[Threat, ...]
    message: Message | None
    started_at: datetime
    updated_at: datetime
    ended_at: datetime | None
    issuer: str

    @property
    def active(self) -> bool:
        return self.ended_at is None
