"""Everything a serving process holds, started and stopped together."""

from __future__ import annotations

from dataclasses import dataclass

from tryvoha.bus.base import Bus
from tryvoha.bus.local import LocalBus
from tryvoha.config import Settings
from tryvoha.data import region_tree
from tryvoha.domain.regions import RegionTree
from tryvoha.engine.auth import Authenticator
from tryvoha.engine.engine import Engine
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
        return cls(settings, store, tree, engine, bus, fanout, views, Authenticator(store))

    async def stop(self) -> None:
        await self.bus.close()
        await self.fanout.close()
        await self.engine.save_snapshot()
        await self.store.close()
