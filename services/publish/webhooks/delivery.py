"""One partner's delivery loop: its outbox in order, one item at a time, retried on the schedule.

Each webhook partner has its own task, so a slow or dead endpoint only ever holds up its own queue.
A lease in Redis makes sure that one process at a time delivers for a partner; every state change is
a script that first checks the lease, so a process that lost it cannot move the cursor.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import structlog

from schemas.partners import Partner
from services.publish.partners import PartnerRegistry
from services.publish.webhooks import signing
from services.publish.webhooks.payload import Bodies, ItemGone
from services.publish.webhooks.policy import Outcome, classify, retry_delay
from services.publish.webhooks.sender import AttemptResult, Sender
from services.publish.webhooks.settings import WebhookSettings
from services.publish.webhooks.ssrf import WebhookUrlRefused, checked_addresses
from services.publish.webhooks.store import OutboxItem, WebhookStore

log = structlog.get_logger()

DELIVERED = "webhook.delivered"
FAILED = "webhook.failed"
DEAD_LETTERED = "webhook.dead_lettered"
DISABLED = "webhook.disabled"


def deliverable(partner: Partner | None) -> bool:
    """Whether a partner's webhook queue should move now (otherwise it waits, kept whole)."""
    return (partner is not None and partner.status == "active" and "webhook" in partner.modes
            and partner.webhook is not None and partner.webhook.enabled)


class PartnerDelivery:
    def __init__(self, name: str, *, store: WebhookStore, sender: Sender, bodies: Bodies, registry: PartnerRegistry,
                 settings: WebhookSettings, partner: Callable[[], Partner | None], rand: Callable[[], float],
                 changed: Callable[[Partner], None]) -> None:
        self.name = name
        self.store = store
        self.sender = sender
        self.bodies = bodies
        self.registry = registry
        self.settings = settings
        self.partner = partner
        self.rand = rand
        self.changed = changed
        self.token = uuid.uuid4().hex
        self.woken = asyncio.Event()
        self._renewed_at = -1e9

    def wake(self) -> None:
        self.woken.set()

    async def run(self) -> None:
        while True:  # ended by cancelling its task (services.wire.background.finish)
            try:
                wait = await self.step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away or a bug: log, back off, go on
                log.warning("webhook.loop_failed", partner=self.name, error=f"{type(exc).__name__}: {exc}")
                wait = 1.0
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.woken.wait(), timeout=wait)
            self.woken.clear()

    async def release(self) -> None:
        """Give up the lease and close the HTTP client (after the loop has ended)."""
        try:
            await self.store.release_lease(self.name, self.token)
        finally:
            await self.sender.aclose()

    async def _lease(self, *, for_attempt: bool = False) -> bool:
        """Hold the lease; before an attempt, with enough of it left for the longest attempt."""
        longest = self.settings.connect_timeout_s + 2 * self.settings.read_timeout_s
        fresh_for = (self.settings.lease_s - longest) / 2 if for_attempt else self.settings.lease_s / 3
        if time.monotonic() - self._renewed_at < fresh_for:
            return True
        held = await self.store.hold_lease(self.name, self.token, int(self.settings.lease_s * 1000))
        self._renewed_at = time.monotonic() if held else -1e9
        return held

    async def step(self) -> float:
        """Do the next thing for this partner; returns how long to wait (unless woken) before the next step."""
        if not await self._lease():
            return self.settings.lease_s / 3
        partner = self.partner()
        if not deliverable(partner):
            return self.settings.idle_poll_s
        assert partner is not None and partner.webhook is not None
        head = await self.store.next_item(self.name)
        if head is None:
            return self.settings.idle_poll_s
        item, state = head
        attempts = state.attempts if state is not None and state.entry_id == item.entry_id else 0
        if state is not None and attempts and state.next_at_ms > (now_ms := int(time.time() * 1000)):
            return min((state.next_at_ms - now_ms) / 1000, self.settings.lease_s / 3)
        if not await self._lease(for_attempt=True):
            return self.settings.lease_s / 3
        attempt = attempts + 1
        result = await self._attempt(partner, item)
        outcome = classify(result.status)
        if isinstance(result, _Gone):
            outcome = Outcome.GIVE_UP
        now = datetime.now(UTC)
        await self.store.log_attempt(self.name, item, attempt=attempt, status=result.status, outcome=outcome.value,
                                     latency_ms=result.latency_ms, error=result.error, now=now)
        fields = {"partner": self.name, "msg_id": item.msg_id, "attempt": attempt, "status": result.status,
                  "latency_ms": result.latency_ms}
        if outcome is Outcome.DELIVERED:
            kept = await self.store.finish(self.name, self.token, item, dead=None, now=now)
            log.debug(DELIVERED, **fields)
        elif outcome is Outcome.DISABLE:
            kept = await self.store.set_retry(self.name, self.token, item.entry_id, 0, 0)
            self.changed(await self.registry.disable_webhook(self.name, f"endpoint answered 410 Gone to {item.msg_id}",
                                                             now=now))
            log.warning(DISABLED, **fields)
        elif outcome is Outcome.RETRY and (delay := retry_delay(
                self.settings.retry_schedule, attempt, self.settings.jitter, self.rand)) is not None:
            kept = await self.store.set_retry(self.name, self.token, item.entry_id, attempt,
                                              int(time.time() * 1000 + delay * 1000))
            log.info(FAILED, error=result.error, retry_in_s=round(delay, 3), **fields)
        else:
            kept = await self.store.finish(self.name, self.token, item, dead=(attempt, result.status, result.error),
                                           now=now)
            log.warning(DEAD_LETTERED, error=result.error, **fields)
        if not kept:  # the lease ran out under us: another process may deliver now; look again
            self._renewed_at = -1e9
            log.warning("webhook.lease_lost", partner=self.name)
        return 0.0

    async def _attempt(self, partner: Partner, item: OutboxItem) -> AttemptResult:
        assert partner.webhook is not None
        url = partner.webhook.url
        try:
            addresses = await checked_addresses(url, self.settings.allow)
            body = await self.bodies.get(item.partition, item.published_id)
        except WebhookUrlRefused as exc:
            return AttemptResult(None, 0, f"refused: {exc}", b"")
        except ItemGone as exc:
            return _Gone(None, 0, str(exc), b"")
        headers = signing.headers(partner.webhook.secrets, item.msg_id, datetime.now(UTC), body)
        return await self.sender.post(url, headers, body, pin=addresses[0])


class _Gone(AttemptResult):
    """No attempt could be made: the item is no longer on the log (given up at once)."""
