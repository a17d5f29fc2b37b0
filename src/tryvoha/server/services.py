"""Everything a serving process holds, started and stopped together."""

from __future__ import annotations

from dataclasses import dataclass

from tryvoha.bus.base import Bus
from tryvoha.bus.local import LocalBus
from tryvoha.config import Settings
from tryvoha.data import compat_locations, region_tree
from tryvoha.domain.regions import RegionTree
from tryvoha.engine.auth import Authenticator
from tryvoha.engine.engine import Engine
from tryvoha.server.compat_gate import Gate
from tryvoha.server.compat_views import CompatViews
from tryvoha.server.fanout import Fanout
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
    gate: Gate  # keys and rate limits of the compatible APIs
    compat: CompatViews

    @classmethod
    async def start(cls, settings: Settings, bus: Bus | None = None) -> Services:
        tree = region_tree()
        store = open_store(settings.store)
        await store.open()
        engine = await Engine.load(store, tree)
        bus = bus or LocalBus()
        engine.after_commit.append(bus.published)
        fanout = Fanout(engine.feed, tree, store, engine.catch_up)
        fanout.start()
        await bus.start(engine)
        views = Views(engine.feed, tree, store.epoch)
        authenticate = Authenticator(store)
        compat = CompatViews(engine.feed, tree, compat_locations(), store.epoch)
        return cls(
            settings,
            store,
            tree,
            engine,
            bus,
            fanout,
            views,
            authenticate,
            Gate(authenticate, settings),
            compat,
        )

    async def stop(self) -> None:
        await self.bus.close()
        await self.fanout.close()
        await self.engine.save_snapshot()
        await self.store.close()
