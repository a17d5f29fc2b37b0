"""The courier in a process of its own, started by the serving process that holds the
`webhooks` lease, and stopped with it.

Why a process: delivering costs CPU (an HTTP exchange and a signature per endpoint and
event: a hundred endpoints turn one declare into a hundred requests), and an event loop
has no priorities, so deliveries on the serving loop would sit in front of the next
declare; a thread would share the interpreter's lock. In a process of its own the
deliveries take their own core, and a declare's answer does not wait for them.

The child reads everything from the store: the events (following the log, follower.py),
the subscriptions, and it records progress fenced by the parent's lease, so it needs no
channel to the parent at all. It dies with the parent (even a SIGKILL of it), and
stops, recording what it has, on SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import multiprocessing
import signal
import sys
from multiprocessing.process import BaseProcess

from tryvoha.channels.lease import Holding
from tryvoha.config import Settings

log = logging.getLogger(__name__)

STOP_SECONDS = 5.0  # a stopping child records what it has; then it is killed


def _die_with_parent() -> None:
    """Linux: SIGKILL this process when its parent dies, however it dies."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def courier_main(settings: Settings, lease: str, holder: str) -> None:
    """The child: deliver until stopped, or until the lease is lost."""
    _die_with_parent()
    logging.basicConfig(
        level=settings.log_level.upper(),
        stream=sys.stderr,
        format="%(levelname)s [webhooks] %(name)s: %(message)s",
    )
    with contextlib.suppress(KeyboardInterrupt):
        try:
            import uvloop
        except ImportError:  # uvloop is a dependency wherever it builds
            asyncio.run(_deliver(settings, lease, holder))
        else:
            uvloop.run(_deliver(settings, lease, holder))


async def _deliver(settings: Settings, lease: str, holder: str) -> None:
    from tryvoha.channels.webhooks.courier import Courier
    from tryvoha.channels.webhooks.follower import LogFollower
    from tryvoha.channels.webhooks.window import EventWindow
    from tryvoha.data import region_tree
    from tryvoha.store import open_store

    store = open_store(settings.store)
    await store.open()
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    assert main is not None
    loop.add_signal_handler(signal.SIGTERM, main.cancel)
    try:
        tree = region_tree()
        follower = LogFollower(store, await store.last_seq())
        window = EventWindow(follower, store, tree)
        courier = Courier(settings, store, window, tree, Holding(store, lease, holder))
        following = loop.create_task(follower.run())
        try:
            await courier.run()
        finally:
            following.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await following
    except asyncio.CancelledError:
        pass
    finally:
        await store.close()


async def run_courier_process(settings: Settings, holding: Holding) -> None:
    """The parent: start the child and wait for it; stop it when cancelled."""
    context = multiprocessing.get_context("spawn")
    child = context.Process(
        target=courier_main,
        args=(settings, holding.lease, holding.holder),
        name="tryvoha-webhooks",
    )
    child.start()
    try:
        await _exited(child)
        log.warning("the webhooks process exited with %s", child.exitcode)
    finally:
        await _stop(child)


async def _exited(child: BaseProcess) -> None:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def heard() -> None:
        if not done.done():
            done.set_result(None)

    loop.add_reader(child.sentinel, heard)
    try:
        await done
    finally:
        loop.remove_reader(child.sentinel)


async def _stop(child: BaseProcess) -> None:
    if child.is_alive():
        child.terminate()  # SIGTERM: it records what it has
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STOP_SECONDS):
                await _exited(child)
    if child.is_alive():
        child.kill()
    await asyncio.get_running_loop().run_in_executor(None, child.join, STOP_SECONDS)
    child.close()
