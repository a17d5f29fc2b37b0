"""Driving either store's write transaction from a test, as the engine does."""

from __future__ import annotations

from collections.abc import Sequence

from tryvoha.domain.events import Event
from tryvoha.store.base import AuditEntry, Committed, IdempotencyRecord, WriteTransaction


async def commit(
    tx: WriteTransaction,
    events: Sequence[Event],
    remember: IdempotencyRecord | None = None,
    audit: Sequence[AuditEntry] = (),
) -> list[Committed]:
    if tx.blocks_loop:
        return tx.commit_blocking(events, remember, audit)
    return await tx.commit(events, remember, audit)


async def rollback(tx: WriteTransaction) -> None:
    if tx.blocks_loop:
        tx.rollback_blocking()
    else:
        await tx.rollback()
