"""Everything a serving process holds, started and stopped together.

What a process holds depends on its role (`config.ServeRole`): every role loads the
projection and serves reads and streams; one that writes (`all`, `writer`) carries out
writes, keeps snapshots and runs the channels (ask `settings.role.writes`); an edge
forwards writes to a writer and only reads the store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tryvoha.bus.base import Bus
from tryvoha.bus.local import LocalBus
from tryvoha.channels.push import PushChannel
from tryvoha.channels.telegram import telegram_keeper
from tryvoha.channels.webhooks.admin import WebhookAdmin
from tryvoha.channels.webhooks.channel import WebhookChannel
from tryvoha.config import Settings, split_urls
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
from tryvoha.server.forward import Forwarder
from tryvoha.server.ratelimit import RateLimiter
from tryvoha.server.readiness import Readiness
from tryvoha.server.refusals import Refusals
from tryvoha.server.views import Views
from tryvoha.store import open_store
from tryvoha.store.base import Store

if TYPE_CHECKING:
    from tryvoha.channels.lease import LeaseKeeper
    from tryvoha.channels.mqtt import MqttChannel


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
    webhooks: WebhookChannel
    webhook_admin: WebhookAdmin
    forwarder: Forwarder | None = None  # an edge's way to a writer
    tasks: list[asyncio.Task[None]] = field(default_factory=list)  # stopped with the rest
    readiness: Readiness = field(default_factory=Readiness)
    mqtt: MqttChannel | None = None
    keepers: list[LeaseKeeper] = field(default_factory=list)  # one per configured channel
    push: PushChannel | None = None  # Web Push, when it is on

    @classmethod
    async def start(cls, settings: Settings, bus: Bus | None = None) -> Services:
        tree = region_tree()
        store = open_store(settings.store)
        await store.open()
        writing = settings.role.writes
        engine = await Engine.load(store, tree, snapshots=writing)
        bus = bus or bus_of(settings, store)
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
        webhooks = WebhookChannel(settings, store, engine.feed, tree)
        if writing:  # the channels run where writes are made (an edge's lag is not theirs)
            webhooks.start()
        push = None
        if settings.web_push:
            push = await PushChannel.start(
                settings, store, tree, engine.feed, system_clock, deliver=writing
            )
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
            webhooks,
            WebhookAdmin(settings, store, tree, webhooks.window, webhooks),
            None if writing else Forwarder(split_urls(settings.writer_url)),
            push=push,
        )
        if writing and settings.confirm_over > 0:  # held declares that ran out are marked so
            from tryvoha.server.pending import sweep

            services.run(sweep(services))
        if writing:
            services.start_channels()
        return services

    def start_channels(self) -> None:
        """Each configured channel's keeper: the process holding its lease delivers it."""
        if self.settings.mqtt.get_secret_value():
            from tryvoha.channels.lease import LeaseKeeper
            from tryvoha.channels.mqtt import LEASE, MqttChannel
            from tryvoha.channels.source import EventSource

            source = EventSource(self.engine.feed, self.store)
            self.mqtt = MqttChannel(
                self.settings, self.engine.feed, source, self.tree, compat_locations()
            )
            self.keepers.append(LeaseKeeper(self.store, LEASE, self.mqtt.deliver))
        telegram = telegram_keeper(self.settings, self.store, self.engine.feed, self.tree)
        if telegram is not None:
            self.keepers.append(telegram)
        for keeper in self.keepers:
            keeper.start()

    def run(self, work: Coroutine[Any, Any, None]) -> None:
        """A task that lives as long as the services."""
        self.tasks.append(asyncio.get_running_loop().create_task(work))

    async def stop(self) -> None:
        if self.mqtt is not None:
            await self.mqtt.close()
        for keeper in self.keepers:
            await keeper.stop()
        for task in self.tasks:
            task.cancel()
        await self.authenticate.stop()
        await self.webhooks.stop()
        if self.push is not None:
            await self.push.stop()
        self.cap.close()
        if self.forwarder is not None:
            await self.forwarder.close()
        await self.bus.close()
        await self.fanout.close()
        await self.engine.save_snapshot()
        await self.store.close()


def bus_of(settings: Settings, store: Store) -> Bus:
    """The bus --bus names: this box alone (the store, polled), or NATS JetStream."""
    if not settings.bus:
        return LocalBus()
    from tryvoha.bus.nats import NatsBus  # nats-py is imported only where it is used

    return NatsBus(
        split_urls(settings.bus),
        settings.nats_stream,
        store,
        publish=settings.role.writes,
        replicas=settings.nats_replicas,
        name=f"tryvoha-{settings.role.value}",
    )
