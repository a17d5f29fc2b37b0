"""The delivery of every webhook, run by the one process that holds the `webhooks` lease.

Each active endpoint has a task that takes the events after its position from the shared
window, skips those not for it, and sends the others one at a time: the next waits until
the one before is acknowledged with a 2xx (or the endpoint is suspended or disabled), so
an endpoint sees the log in order. Endpoints are independent: a slow or dead one holds
its own task and at most one request, never another's. Requests in flight are bounded
by two lanes of `--webhook-concurrency` each: one for endpoints that answer, one for
those whose last attempt failed, so dead endpoints cannot take every slot.

What happened is recorded every FLUSH_SECONDS in one fenced transaction (cursors,
attempts, states): a declare never waits behind a commit per endpoint, and a kill -9
re-sends at most what the last 200 ms delivered, with the same `webhook-id`. Every
RECONCILE_SECONDS (at once when an admin request reached this process) the subscriptions
are compared with the store's: new ones start, removed ones stop, resumed ones go on
from their cursor, replays rewind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
import time
from collections.abc import Awaitable
from dataclasses import replace
from datetime import UTC, datetime

import certifi
import httpx

from tryvoha.channels.lease import Holding
from tryvoha.channels.webhooks.endpoint import Endpoint
from tryvoha.channels.webhooks.targets import Resolver, TargetError
from tryvoha.channels.webhooks.window import EventWindow, Item
from tryvoha.config import Settings
from tryvoha.domain.events import Seq
from tryvoha.domain.regions import RegionTree
from tryvoha.domain.webhooks import Attempt, Verdict, WebhookRecord, WebhookState, next_step
from tryvoha.protocol.webhooks import message_id, signed_headers
from tryvoha.store.base import Store
from tryvoha.store.webhooks import WebhookProgress

log = logging.getLogger(__name__)

FLUSH_SECONDS = 0.2
RECONCILE_SECONDS = 1.0
PAGE = 64  # events an endpoint takes from the window at a time
ANSWER_BYTES = 65_536  # of an answer's body read (then the connection is dropped)
FINAL_FLUSH_SECONDS = 2.0
QUIET_SECONDS = 10.0  # store errors are logged at most this often


class Courier:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        window: EventWindow,
        tree: RegionTree,
        holding: Holding,
        resolver: Resolver | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.window = window
        self.tree = tree
        self.holding = holding
        self.resolver = resolver or Resolver(settings.webhooks_allow_private)
        self.endpoints: dict[str, Endpoint] = {}
        self.lanes = (
            asyncio.Semaphore(settings.webhook_concurrency),  # endpoints that answer
            asyncio.Semaphore(settings.webhook_concurrency),  # endpoints that fail
        )
        self._poked = asyncio.Event()
        self._tls = ssl.create_default_context(cafile=certifi.where())
        self._complained = 0.0

    def poke(self) -> None:
        """Look at the subscriptions now (an admin changed one through this process)."""
        self._poked.set()

    # -- the loop: record, reconcile ---------------------------------------------------

    async def run(self) -> None:
        quiet = logging.getLogger("httpx")
        if quiet.level == logging.NOTSET:  # a line per delivery at info: too many
            quiet.setLevel(logging.WARNING)
        try:
            await self._loop()
        finally:
            await asyncio.gather(*(self._drop(ep) for ep in self.endpoints.values()))
            with contextlib.suppress(Exception):
                async with asyncio.timeout(FINAL_FLUSH_SECONDS):
                    await self.flush()

    def _client(self, ep: Endpoint) -> httpx.AsyncClient:
        """The endpoint's own client, holding at most one connection: a pool shared by
        every endpoint looks at each of its connections on every request."""
        if ep.client is None:
            ep.client = httpx.AsyncClient(
                verify=self._tls,
                timeout=httpx.Timeout(self.settings.webhook_timeout_seconds),
                follow_redirects=False,
                trust_env=False,
                limits=httpx.Limits(
                    max_connections=1, max_keepalive_connections=1, keepalive_expiry=30.0
                ),
            )
        return ep.client

    async def _drop(self, ep: Endpoint) -> None:
        """Stop delivering to it and let its connection go."""
        await ep.stop()
        if ep.client is not None:
            client, ep.client = ep.client, None
            with contextlib.suppress(Exception):
                await client.aclose()

    async def _loop(self) -> None:
        await self._quietly(self.reconcile())
        due = time.monotonic() + RECONCILE_SECONDS
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(FLUSH_SECONDS):
                    await self._poked.wait()
            if await self._quietly(self.flush()) is False:
                log.warning("lost the webhooks lease; another process delivers now")
                return
            if self._poked.is_set() or time.monotonic() >= due:
                self._poked.clear()
                await self._quietly(self.reconcile())
                due = time.monotonic() + RECONCILE_SECONDS

    async def _quietly(self, work: Awaitable[bool]) -> bool | None:
        """The store's answer, or None (logged, now and then) when it failed."""
        try:
            return await work
        except Exception:
            now = time.monotonic()
            if now - self._complained >= QUIET_SECONDS:
                self._complained = now
                log.exception("webhooks: the store failed; trying again")
            return None

    async def flush(self) -> bool:
        """Record what happened since the last time; False when the lease is lost."""
        progress = WebhookProgress()
        now = time.monotonic()
        taken = list(self.endpoints.values())
        for ep in taken:
            ep.take(progress, now)
        if not progress:
            return True
        try:
            held = await self.store.record_webhooks(
                progress, self.holding.lease, self.holding.holder
            )
        except BaseException:
            for ep in taken:
                ep.give_back(progress)
            raise
        if held:
            for ep in taken:
                ep.recorded_as(progress)
        return held

    async def reconcile(self) -> bool:
        """Bring the endpoints in line with the subscriptions in the store."""
        versions = await self.store.webhook_versions()
        for gone in [i for i in self.endpoints if i not in versions]:
            await self._drop(self.endpoints.pop(gone))
        changed = [
            i
            for i, version in versions.items()
            if i not in self.endpoints or self.endpoints[i].record.version != version
        ]
        if not changed:
            return True
        records = await self.store.webhooks(changed)
        numbers = (
            await self.store.last_attempt_numbers()
            if any(r.id not in self.endpoints for r in records)
            else {}
        )
        for record in records:
            await self._apply(record, numbers)
        return True

    async def _apply(self, record: WebhookRecord, numbers: dict[str, int]) -> None:
        ep = self.endpoints.get(record.id)
        if ep is None:
            ep = Endpoint.of(record, self.tree, numbers.get(record.id, 0), self.kept)
            ep.failing = _was_failing(record)
            self.endpoints[record.id] = ep
        else:
            ep.record = record
            ep.state = None  # the store's word is newer than a change decided here
        if record.replay_from is not None:
            await ep.stop()
            start = record.replay_from
            if await self.store.take_replay(
                record.id, start, self.holding.lease, self.holding.holder
            ):
                ep.position = ep.recorded = Seq(max(0, start - 1))
                ep.must_record = False
                log.info("webhook %s: replaying from seq %s", record.id, start)
            ep.record = replace(record, replay_from=None)
        if record.state is WebhookState.ACTIVE and not ep.running:
            ep.task = asyncio.get_running_loop().create_task(self._serve(ep))
        elif record.state is not WebhookState.ACTIVE and ep.running:
            await self._drop(ep)

    @property
    def kept(self) -> int:
        return self.settings.webhook_attempts_kept

    # -- one endpoint ----------------------------------------------------------------

    async def _serve(self, ep: Endpoint) -> None:
        """Deliver to one endpoint, in order, until it is suspended or disabled."""
        try:
            await self._serve_until_stopped(ep)
        finally:
            if ep.client is not None:  # suspended or disabled: let its connection go
                client, ep.client = ep.client, None
                await client.aclose()

    async def _serve_until_stopped(self, ep: Endpoint) -> None:
        while True:
            items = await self.window.after(ep.position, PAGE)
            for item in items:
                if item.seq <= ep.position:
                    continue
                if not ep.filter.matches(item.region_bit, item.threat, item.historical):
                    ep.skipped(item.seq, time.monotonic())
                    continue
                verdict = await self._deliver(ep, item)
                if verdict is Verdict.SUSPEND or verdict is Verdict.DISABLE:
                    state = (
                        WebhookState.SUSPENDED
                        if verdict is Verdict.SUSPEND
                        else WebhookState.DISABLED
                    )
                    log.warning("webhook %s: %s at seq %s", ep.id, state.value, item.seq)
                    ep.state = state
                    return

    async def _deliver(self, ep: Endpoint, item: Item) -> Verdict:
        """Send one event until it is acknowledged, or no retry is left."""
        failures = 0
        while True:
            attempt = await self._attempt(ep, item)
            step = next_step(
                attempt.status, failures, self.settings.webhook_retry_schedule, random.random()
            )
            if step.verdict is Verdict.DELIVERED:
                ep.failing = False
                ep.acknowledged(item.seq, attempt.at)
                return step.verdict
            ep.failing = True
            if step.verdict is not Verdict.RETRY:
                return step.verdict
            await asyncio.sleep(step.delay)
            failures += 1

    async def _attempt(self, ep: Endpoint, item: Item) -> Attempt:
        async with self.lanes[1 if ep.failing else 0]:
            at = datetime.now(UTC)
            started = time.perf_counter()
            status, error = await self._post(ep, item, at)
            duration = round((time.perf_counter() - started) * 1000)
        attempt = Attempt(ep.last_n + 1, item.seq, at, status, duration, error)
        ep.attempted(attempt)
        return attempt

    async def _post(self, ep: Endpoint, item: Item, at: datetime) -> tuple[int | None, str | None]:
        """(HTTP status, error): status None when no answer came."""
        client = self._client(ep)
        timeout = self.settings.webhook_timeout_seconds
        try:
            if ep.target is None:
                raise TargetError(f"'{ep.record.url}' is not a URL webhooks can go to")
            async with asyncio.timeout(timeout):
                address = await self.resolver.address(ep.target)
                headers = signed_headers(ep.signer, message_id(ep.id, item.seq), at, item.raw)
                headers.append(("host", ep.target.host_header))
                extensions = {"sni_hostname": ep.target.host} if ep.target.scheme == "https" else {}
                request = client.build_request(
                    "POST",
                    ep.target.request_url(address),
                    content=item.raw,
                    headers=headers,
                    extensions=extensions,
                )
                response = await client.send(request, stream=True)
                try:
                    await _drain(response)
                finally:
                    await response.aclose()
        except TargetError as e:
            return None, e.detail
        except TimeoutError:
            return None, f"no answer within {timeout:g} s"
        except httpx.HTTPError as e:
            return None, f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        except OSError as e:
            return None, f"{type(e).__name__}: {e}"
        status = response.status_code
        if 200 <= status < 300:
            return status, None
        return status, f"HTTP {status} {response.reason_phrase}".strip()


async def _drain(response: httpx.Response) -> None:
    """Read a little of the answer's body (its status is all that counts)."""
    read = 0
    async for chunk in response.aiter_raw():
        read += len(chunk)
        if read > ANSWER_BYTES:
            break


def _was_failing(record: WebhookRecord) -> bool:
    """Whether the endpoint's last attempt (by an earlier process) failed."""
    if record.last_error_at is None:
        return False
    return record.delivered_at is None or record.last_error_at > record.delivered_at
