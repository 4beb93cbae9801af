"""The webhook side of the publish process: the fan-out worker and one delivery task per partner."""

from __future__ import annotations

import asyncio
import contextlib
import random
import ssl
from collections.abc import Callable, Sequence
from datetime import datetime

import structlog
from redis.asyncio import Redis

from schemas.partners import Partner
from services.publish.partners import PartnerRegistry
from services.publish.webhooks import operations
from services.publish.webhooks.delivery import PartnerDelivery
from services.publish.webhooks.fanout import FanoutHandler, wants_webhooks
from services.publish.webhooks.payload import Bodies
from services.publish.webhooks.sender import Sender, tls_context
from services.publish.webhooks.settings import WebhookSettings
from services.publish.webhooks.store import DeliveryRecord, WebhookStore
from services.wire.background import finish
from services.wire.eventlog import EventLog
from services.wire.settings import Settings
from services.wire.worker import StreamWorker

log = structlog.get_logger()


class WebhookService:
    """Owns the webhooks consumer group's worker and the partners' delivery tasks.

    Partners added, changed or removed are picked up from the registry every
    ``registry_poll_s`` (and before each fan-out batch).
    """

    def __init__(self, redis: Redis, settings: Settings, webhook_settings: WebhookSettings, registry: PartnerRegistry,
                 *, rand: Callable[[], float] = random.random) -> None:
        self.redis = redis
        self.settings = settings
        self.webhook_settings = webhook_settings
        self.registry = registry
        self.rand = rand
        self.store = WebhookStore(redis, webhook_settings.log_maxlen)
        self.partners: dict[str, Partner] = {}
        self.tasks: dict[str, tuple[PartnerDelivery, asyncio.Task[None]]] = {}
        self.fanout = FanoutHandler(registry, self.store, on_partners=self._update, on_enqueued=self.wake)
        self.worker = StreamWorker(EventLog(redis, settings), self.fanout, settings)
        self._tls: ssl.SSLContext | None = None
        self._bodies = Bodies(redis)
        self._watch: asyncio.Task[None] | None = None
        self._stopping_tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._tls = tls_context()
        self._update([p for p in await self.registry.all() if wants_webhooks(p)])
        await self.worker.start()
        self._watch = asyncio.create_task(self._watch_registry())
        log.info("webhooks.started", partners=len(self.partners))

    async def stop(self) -> None:
        if self._watch:
            await finish(self._watch)
        await self.worker.stop()
        await asyncio.gather(*(self._stop_task(name) for name in list(self.tasks)), *list(self._stopping_tasks))
        log.info("webhooks.stopped")

    def wake(self, name: str) -> None:
        running = self.tasks.get(name)
        if running:
            running[0].wake()

    # -- operations (also available without a running service, see operations.py)
    async def redrive(self, name: str) -> int:
        moved = await operations.redrive(self.store, self.registry, name)
        self.wake(name)
        return moved

    async def replay(self, name: str, since: datetime) -> int:
        queued = await operations.replay(self.store, self.registry, name, since, self.settings.partitions)
        self.wake(name)
        return queued

    async def deliveries(self, name: str, count: int = 100) -> list[DeliveryRecord]:
        return await operations.deliveries(self.store, self.registry, name, count)

    # -- partners coming and going
    async def _watch_registry(self) -> None:
        while True:  # ended by cancelling its task (services.wire.background.finish)
            await asyncio.sleep(self.webhook_settings.registry_poll_s)
            try:
                self._update([p for p in await self.registry.all() if wants_webhooks(p)])
            except Exception as exc:  # Redis away: try again on the next round
                log.warning("webhooks.registry_poll_failed", error=f"{type(exc).__name__}: {exc}")

    def _update(self, partners: Sequence[Partner]) -> None:
        previous = self.partners
        self.partners = {p.name: p for p in partners}
        if self._tls is None:
            return
        for name in self.partners:
            if name not in self.tasks:
                self._start_task(name)
            elif previous.get(name) != self.partners[name]:
                self.wake(name)  # resumed, re-enabled or a new URL: look again now
        for name in [n for n in self.tasks if n not in self.partners]:
            ending = asyncio.create_task(self._end(*self.tasks.pop(name)))
            self._stopping_tasks.add(ending)
            ending.add_done_callback(self._stopping_tasks.discard)

    def _changed(self, partner: Partner) -> None:
        """A change this process made (a disabled webhook) holds at once, not only after the next poll."""
        if partner.name in self.partners:
            self.partners[partner.name] = partner

    def _start_task(self, name: str) -> None:
        assert self._tls is not None
        sender = Sender(self.webhook_settings, self._tls)
        delivery = PartnerDelivery(name, store=self.store, sender=sender, bodies=self._bodies, registry=self.registry,
                                   settings=self.webhook_settings, partner=lambda: self.partners.get(name),
                                   rand=self.rand, changed=self._changed)
        self.tasks[name] = (delivery, asyncio.create_task(delivery.run(), name=f"webhooks:{name}"))

    async def _stop_task(self, name: str) -> None:
        await self._end(*self.tasks.pop(name))

    @staticmethod
    async def _end(delivery: PartnerDelivery, task: asyncio.Task[None]) -> None:
        await finish(task)
        with contextlib.suppress(Exception):
            await delivery.release()

