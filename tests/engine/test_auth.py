"""Keys: found once per token at a time, however many requests ask together."""

from __future__ import annotations

import asyncio

import pytest

from tryvoha.data import region_tree
from tryvoha.domain.scope import Role
from tryvoha.engine.auth import Authenticator, AuthError, issue_token
from tryvoha.store import open_store
from tryvoha.store.base import TokenRecord

pytestmark = pytest.mark.anyio


async def test_concurrent_requests_with_one_key_read_the_store_once(store_url: str) -> None:
    store = open_store(store_url)
    await store.open()
    try:
        key = (await issue_token(store, region_tree(), "map", Role.READER, [])).secret
        reads = 0
        real = store.token_by_hash

        async def counted(token_hash: str) -> TokenRecord | None:
            nonlocal reads
            reads += 1
            await asyncio.sleep(0.05)  # a slow disk: everyone arrives while it reads
            return await real(token_hash)

        store.token_by_hash = counted  # type: ignore[method-assign]
        now = [0.0]
        authenticate = Authenticator(store, clock=lambda: now[0])
        found = await asyncio.gather(*(authenticate.key(key) for _ in range(50)))
        assert reads == 1 and {p.name for p in found} == {"map"}
        assert (await authenticate.key(key)).role is Role.READER and reads == 1  # remembered
        now[0] += Authenticator.CACHE_SECONDS
        await asyncio.gather(*(authenticate.key(key) for _ in range(10)))
        assert reads == 2
        results = await asyncio.gather(
            *(authenticate.key("tv_unknown") for _ in range(10)), return_exceptions=True
        )
        assert reads == 3 and all(isinstance(r, AuthError) for r in results)
    finally:
        await store.close()
