"""Jurisdiction: a token may act only on the regions in its scope and below them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from tryvoha.domain.errors import OutOfScopeError, ReadOnlyTokenError
from tryvoha.domain.regions import RegionId, RegionTree


class Role(StrEnum):
    ISSUER = "issuer"  # declares, updates and clears within its scope
    ADMIN = "admin"  # an issuer that may also read the audit log
    READER = "reader"  # reads only: a key for the compatible APIs

    @property
    def may_write(self) -> bool:
        return self is not Role.READER


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is writing: a token's name, role and scope (region ids)."""

    name: str
    role: Role
    scope: tuple[RegionId, ...]

    def may_act_on(self, tree: RegionTree, region_id: RegionId) -> bool:
        return any(tree.is_within(region_id, s) for s in self.scope)


def check_may_write(principal: Principal) -> None:
    """Refuse any write by a token whose role only reads."""
    if not principal.role.may_write:
        raise ReadOnlyTokenError(principal.name)


def check_scope(tree: RegionTree, principal: Principal, regions: Iterable[RegionId]) -> None:
    """Refuse the whole command if any region is outside the principal's scope."""
    outside = [r for r in regions if not principal.may_act_on(tree, r)]
    if outside:
        raise OutOfScopeError(principal.name, list(outside))
