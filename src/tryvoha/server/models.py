"""Request bodies of API v1 as pydantic models (they also document the OpenAPI schema)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from tryvoha.domain.alerts import AlertLevel, Message, ThreatKind, ThreatType
from tryvoha.domain.commands import ThreatSpec

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
# A region id is exact: " UA46000000000026241\u00a0" is not one (nothing is stripped).
RegionIdText = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MessageIn(Strict):
    uk: Text | None = None
    en: Text | None = None

    @model_validator(mode="after")
    def _some_text(self) -> MessageIn:
        if self.uk is None and self.en is None:
            raise ValueError("a message needs uk or en text (or send null for no message)")
        return self

    def domain(self) -> Message:
        return Message(self.uk, self.en)


class ThreatIn(Strict):
    kind: ThreatKind
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None


ThreatItem = ThreatKind | ThreatIn


def threat_specs(items: list[ThreatItem]) -> tuple[ThreatSpec, ...]:
    return tuple(
        ThreatSpec(i) if isinstance(i, ThreatKind) else ThreatSpec(i.kind, i.note or None)
        for i in items
    )


class DeclareIn(Strict):
    """Declare one alert per region, all in one transaction."""

    regions: list[RegionIdText] = Field(
        min_length=1, max_length=2000, description="KATOTTG region ids"
    )
    threat: ThreatType = ThreatType.AIR_RAID
    level: AlertLevel = AlertLevel.RED
    threats: list[ThreatItem] = Field(default_factory=list, max_length=20)
    message: MessageIn | None = None


class UpdateIn(Strict):
    """Change an active alert. A field left out stays as it is; "message": null removes it."""

    level: AlertLevel | None = None
    threats: list[ThreatItem] | None = Field(default=None, max_length=20)
    message: MessageIn | None = None

    @model_validator(mode="after")
    def _something(self) -> UpdateIn:
        if not self.model_fields_set:
            raise ValueError("nothing to change: send level, threats or message")
        if "level" in self.model_fields_set and self.level is None:
            raise ValueError("level cannot be null: send red or yellow")
        if "threats" in self.model_fields_set and self.threats is None:
            raise ValueError("threats cannot be null: send [] for none")
        return self
