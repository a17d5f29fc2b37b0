"""Everything a serving process holds, started and stopped together."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from tryvoha.bus.base import Bus
from tryvoha.bus.local import LocalBus
from tryvoha.channels.lease import LeaseKeeper
from tryvoha.channels.telegram import telegram_keeper
from tryvoha.config import Settings
from tryvoha.data import compat_locations, region_tree
from tryvoha.domain.regions import RegionTree
from tryvoha.engine.auth import Authenticator
from tryvoha.engine.clock import system_clock
from tryvoha.engine.engine import Engine
from tryvoha.server.cap_views import CapViews, signer_from
from tryvoha.server.clients import ClientLimits, parse_networks
from tryvoha.server.compat_gate import Gate
from tryvoha.server.compat_views import CompatViews
from tryvoha.server.fanout import Bounds, Fanout
from tryvoha.server.ratelimit import RateLimiter
from tryvoha.server.refusals import Refusals
from tryvoha.server.views import Views
from tryvoha.store import open_store
from tryvoha.store.base import Store


@dataclass
class Services:
    settings: Settings
    store: Store
    tree: RegionTree
    engine: Engine
    bus: Bus
    fanout: Fanout
    views: Views
    authenticate: Authenticator
    cap: CapViews
    gate: Gate  # keys and rate limits of the compatible APIs
    compat: CompatViews
    refusals: Refusals
    clients: ClientLimits  # per client address: requests, streams
    writes: RateLimiter  # per token: writes
    tasks: list[asyncio.Task[None]] = field(default_factory=list)  # stopped with the rest
    channels: list[LeaseKeeper] = field(default_factory=list)  # one per configured channel

    @classmethod
    async def start(cls, settings: Settings, bus: Bus | None = None) -> Services:
        tree = region_tree()
        store = open_store(settings.store)
        await store.open()
        engine = await Engine.load(store, tree)
        bus = bus or LocalBus()
        engine.after_commit.append(bus.published)
        refusals = Refusals()
        bounds = Bounds(stall_seconds=settings.stall_seconds)
        fanout = Fanout(engine.feed, tree, store, engine.catch_up, bounds, refusals=refusals)
        fanout.start()
        await bus.start(engine)
        views = Views(engine.feed, tree, store.epoch)
        cap = CapViews(settings, store, tree, engine.feed, signer_from(settings))
        await cap.start(system_clock())
        authenticate = Authenticator(store)
        authenticate.start()
        compat = CompatViews(engine.feed, tree, compat_locations(), store.epoch)
        services = cls(
            settings,
            store,
            tree,
            engine,
            bus,
            fanout,
            views,
            authenticate,
            cap,
            Gate(authenticate, settings),
            compat,
            refusals,
            ClientLimits(
                settings.client_rate_limit,
                settings.max_streams_per_client,
                parse_networks(settings.trusted_proxies.split(",")),
                settings.rate_limit_keys,
            ),
            RateLimiter(settings.token_write_rate_limit, settings.rate_limit_keys),
        )
        if settings.confirm_over > 0:  # held declares whose time runs out are marked so
            from tryvoha.server.pending import sweep

            services.run(sweep(services))
        services.channels = [k for k in [telegram_keeper(settings, store, engine.feed, tree)] if k]
        for keeper in services.channels:
            keeper.start()
        return services

    def run(self, work: Coroutine[Any, Any, None]) -> None:
        """A task that lives as long as the services."""
        self.tasks.append(asyncio.get_running_loop().create_task(work))

    async def stop(self) -> None:
        for keeper in self.channels:
            await keeper.stop()
        for task in self.tasks:
            task.cancel()
        await self.authenticate.stop()
        self.cap.close()
        await self.bus.close()
        await self.fanout.close()
        await self.engine.save_snapshot()
        await self.store.close()
