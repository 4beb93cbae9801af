"""Signed webhooks end to end: a real Redis, the webhook service, and real HTTP receivers on loopback."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from redis.asyncio import Redis
from standardwebhooks.webhooks import Webhook

from bench.receiver import Receiver
from schemas.codec import encode_event
from schemas.events import ArticlePublished
from schemas.ninjs import NinjsItem
from schemas.partners import Filters, Partner
from schemas.streams import Stream, stream_key
from services.publish.partners import PartnerRegistry
from services.publish.webhooks import WebhookService, WebhookSettings, WebhookUrlRefused, check_webhook_url
from services.publish.webhooks.store import WebhookStore
from services.wire.settings import Durability, Settings

PUBLISHED = stream_key(Stream.PUBLISHED)
FAST = WebhookSettings(retry_schedule=(0.05,) * 40, jitter=0.0, allow=frozenset({"loopback"}), connect_timeout_s=1.0,
                       read_timeout_s=2.0, lease_s=10.0, idle_poll_s=0.05, registry_poll_s=0.05)

Factory = Callable[..., Awaitable[WebhookService]]


def article() -> str:
    return f"urn:newswire:article:{uuid.uuid4()}"


async def publish(redis: Redis, article_id: str, version: int = 1, *, language: str = "en",
                  pub_status: str = "usable") -> str:
    item = NinjsItem(uri=article_id, type="text", pub_status=pub_status, version=str(version),  # type: ignore[arg-type]
                     language=language, urgency=5)
    event = ArticlePublished(event_id=str(uuid.uuid4()), article_id=article_id, version=version,
                             occurred_at=datetime.now(UTC), correlation_id="c", source_event_id=str(uuid.uuid4()),
                             item=item)
    return (await redis.xadd(PUBLISHED, encode_event(event))).decode()  # type: ignore[arg-type]


async def eventually(check: Callable[[], Awaitable[bool] | bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if await result if isinstance(result, Awaitable) else result:
            return
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def register(registry: PartnerRegistry, name: str, url: str, *, filters: Filters | None = None) -> str:
    """A webhook partner; returns its secret."""
    _partner, _token, secret = await registry.register(name, modes=["webhook"], filters=filters or Filters(),
                                                      webhook_url=url, actor="test", now=datetime.now(UTC))
    assert secret
    return secret


def ids(requests: list[Any]) -> list[str]:
    return [r.headers["webhook-id"] for r in requests]


@pytest.fixture
def registry(redis: Redis) -> PartnerRegistry:
    return PartnerRegistry(redis)


@pytest.fixture
async def services(redis: Redis, redis_url: str, registry: PartnerRegistry) -> AsyncIterator[Factory]:
    started: list[WebhookService] = []

    async def start(webhook_settings: WebhookSettings = FAST) -> WebhookService:
        settings = Settings(redis_url=redis_url, durability=Durability.NONE, consumer_name=f"t-{uuid.uuid4().hex[:6]}",
                            claim_idle_ms=500, claim_interval_ms=200, batch_size=50)
        service = WebhookService(redis, settings, webhook_settings, registry, rand=lambda: 0.5)
        await service.start()
        started.append(service)
        return service

    yield start
    for service in started:
        await service.stop()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = await Receiver().start()
    yield r
    await r.stop()


async def test_items_arrive_signed_and_verify_with_the_reference_package(
        redis: Redis, registry: PartnerRegistry, services: Factory, receiver: Receiver) -> None:
    secret = await register(registry, "outlet", receiver.url("/hook"))
    await services()
    a = article()
    entry = await publish(redis, a)
    await eventually(lambda: len(receiver.delivered("/hook")) == 1)
    got = receiver.delivered("/hook")[0]
    payload = Webhook(secret).verify(got.body, got.headers)
    assert payload["type"] == "article.published"
    assert payload["data"]["uri"] == a and payload["data"]["version"] == "1"
    assert got.headers["webhook-id"] == f"msg_{entry}"
    assert abs(int(got.headers["webhook-timestamp"]) - time.time()) < 60


async def test_during_a_secret_rotation_both_secrets_verify(
        redis: Redis, registry: PartnerRegistry, services: Factory, receiver: Receiver) -> None:
    old = await register(registry, "outlet", receiver.url("/hook"))
    await services()
    new = await registry.rotate_secret("outlet", overlap=timedelta(hours=1), actor="test", now=datetime.now(UTC))
    await asyncio.sleep(0.2)  # the service picks up the change from the registry
    await publish(redis, article())
    await eventually(lambda: len(receiver.delivered("/hook")) == 1)
    got = receiver.delivered("/hook")[0]
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    assert Webhook(old).verify(got.body, got.headers)
    assert Webhook(new).verify(got.body, got.headers)


async def test_a_receiver_that_is_down_for_a_while_gets_every_item_in_order_once(
        redis: Redis, registry: PartnerRegistry, services: Factory, receiver: Receiver) -> None:
    await register(registry, "outlet", receiver.url("/hook"))
    await receiver.stop()  # the port now refuses connections
    service = await services()
    a, b = article(), article()
    expected = [f"msg_{await publish(redis, art, v)}" for art, v in ((a, 1), (b, 1), (a, 2), (b, 2), (a, 3))]

    async def failed_a_few_times() -> bool:
        return len(await service.deliveries("outlet", 10)) >= 3

    await eventually(failed_a_few_times)
    assert receiver.requests == []
    await receiver.start()  # same port
    await eventually(lambda: len(receiver.delivered("/hook")) == len(expected))
    await asyncio.sleep(0.3)  # nothing more arrives
    assert ids(receiver.requests) == expected  # every item, in publication order, each once
    versions = [json.loads(r.body)["data"]["version"] for r in receiver.requests]
    assert versions == ["1", "1", "2", "2", "3"]
    log = await service.deliveries("outlet", 100)
    assert {r.outcome for r in log if r.status is None} == {"retry"}
    assert all("ConnectError" in r.error for r in log if r.status is None)
    assert await redis.xlen("nw:{partner:outlet}:outbox") == 1  # delivered entries are trimmed, the last kept


async def test_a_dead_receiver_does_not_delay_a_healthy_one(
        redis: Redis, registry: PartnerRegistry, services: Factory, receiver: Receiver) -> None:
    slow = WebhookSettings(retry_schedule=(60.0,), jitter=0.0, allow=frozenset({"loopback"}), connect_timeout_s=2.0,
                           read_timeout_s=60.0, lease_s=200.0, idle_poll_s=0.05, registry_poll_s=0.05)
    receiver.hang.add("/blackhole")  # accepts the request and never answers
    refused = await Receiver().start()
    await refused.stop()  # a port nobody listens on
    await register(registry, "healthy", receiver.url("/healthy"))
    service = await services(slow)

    # Without dead partners.
    started = time.monotonic()
    alone = [f"msg_{await publish(redis, article())}" for _ in range(20)]
    await eventually(lambda: len(receiver.delivered("/healthy")) == 20)
    took_alone = time.monotonic() - started

    # Beside a receiver that hangs (read timeout 60 s) and one that refuses (first retry 60 s away).
    await register(registry, "blackhole", receiver.url("/blackhole"))
    await register(registry, "refused", refused.url("/refused"))
    await eventually(lambda: {"blackhole", "refused"} <= set(service.tasks))
    started = time.monotonic()
    beside = [f"msg_{await publish(redis, article())}" for _ in range(20)]
    await eventually(lambda: len(receiver.delivered("/healthy")) == 40)
    took_beside = time.monotonic() - started

    assert ids(receiver.delivered("/healthy")) == alone + beside
    # The healthy partner got everything while the dead ones were still on their first item:
    # the black hole's first attempt has not even ended, and the refused one's first retry is
    # scheduled a minute away.
    async def refused_tried() -> bool:
        return len(await service.deliveries("refused", 10)) >= 1

    await eventually(refused_tried)
    assert await service.deliveries("blackhole", 10) == []  # its first attempt is still waiting for an answer
    assert receiver.attempts("/blackhole") == []
    refused_log = await service.deliveries("refused", 10)
    assert [(r.attempt, r.outcome) for r in refused_log] == [(1, "retry")]
    state = await service.store.retry_state("refused")
    assert state is not None and state.next_at_ms > time.time() * 1000 + 30_000
    print(f"healthy partner, 20 items: {took_alone:.3f}s alone, {took_beside:.3f}s beside two dead endpoints")


async def test_410_disables_the_endpoint_and_its_queue_waits(
        redis: Redis, registry: PartnerRegistry, services: Factory, receiver: Receiver) -> None:
    await register(registry, "outlet", receiver.url("/hook"))
    receiver.scripts["/hook"] = [410]
    service = await services()
    first = f"msg_{await publish(redis, article())}"
    second = f"msg_{await publish(redis, article())}"

    async def disabled() -> bool:
        partner = await registry.get("outlet")
        return partner is not None and partner.webhook is not None and not partner.webhook.enabled

    await eventually(disabled)
    partner = await registry.require("outlet")
    assert partner.webhook is not None and "410" in partner.webhook.disabled_reason
    await asyncio.sleep(0.3)
    assert [r.status for r in receiver.attempts("/hook")] == [410]  # no further attempts while disabled
    assert [(r.status, r.outcome) for r in await service.deliveries("outlet", 10)] == [(410, "disable")]

    def enable(p: Partner) -> Partner:
        assert p.webhook is not None
        return msgspec.structs.replace(p, webhook=msgspec.structs.replace(p.webhook, enabled=True, disabled_reason=""))

    await registry.change("outlet", enable, actor="test", reason="fixed", now=datetime.now(UTC))
    await eventually(lambda: len(receiver.delivered("/hook")) == 2)
    assert ids(receiver.delivered("/hook")) == [first, second]  # the queue was kept whole


async def test_a_permanent_4xx_dead_letters_at_once_and_retryable_statuses_retry(
        redis: Redis, registry: PartnerRegistry, services: Factory, receiver: Receiver) -> None:
    settings = WebhookSettings(retry_schedule=(0.05, 0.05, 0.05, 0.05), jitter=0.0, allow=frozenset({"loopback"}),
                               connect_timeout_s=1.0, read_timeout_s=2.0, lease_s=10.0, idle_poll_s=0.05,
                               registry_poll_s=0.05)
    for name in ("rejects", "flaky", "broken"):
        await register(registry, name, receiver.url(f"/{name}"))
    receiver.scripts["/rejects"] = [400]
    receiver.scripts["/flaky"] = [503, 429, 408, 500]  # then 200
    receiver.scripts["/broken"] = [502] * 5  # one attempt and four retries: the schedule is spent
    service = await services(settings)
    first = f"msg_{await publish(redis, article())}"
    second = f"msg_{await publish(redis, article())}"
    await eventually(lambda: all(len(receiver.delivered(p)) == (2 if p == "/flaky" else 1)
                                 for p in ("/rejects", "/flaky", "/broken")))
    assert [r.status for r in receiver.attempts("/rejects")] == [400, 200]
    assert ids(receiver.delivered("/rejects")) == [second]
    assert [r.status for r in receiver.attempts("/flaky")] == [503, 429, 408, 500, 200, 200]
    assert ids(receiver.delivered("/flaky")) == [first, second]
    assert [r.status for r in receiver.attempts("/broken")] == [502] * 5 + [200]

    rejected = await service.store.dead_letters("rejects")
    assert [(d.item.msg_id, d.attempts, d.status) for d in rejected] == [(first, 1, 400)]
    broken = await service.store.dead_letters("broken")
    assert [(d.item.msg_id, d.attempts, d.status) for d in broken] == [(first, 5, 502)]
    assert await service.store.dead_letters("flaky") == []
    flaky_log = sorted(await service.deliveries("flaky", 10), key=lambda r: r.log_id)
    assert [(r.attempt, r.status, r.outcome) for r in flaky_log[:5]] == [
        (1, 503, "retry"), (2, 429, "retry"), (3, 408, "retry"), (4, 500, "retry"), (5, 200, "delivered")]
    assert all(r.latency_ms >= 0 and r.at.tzinfo is not None for r in flaky_log)


async def test_redrive_puts_dead_letters_back_and_they_are_delivered(
        redis: Redis, registry: PartnerRegistry, services: Factory, receiver: Receiver) -> None:
    await register(registry, "outlet", receiver.url("/hook"))
    receiver.scripts["/hook"] = [404, 404]
    service = await services()
    published = [f"msg_{await publish(redis, article())}" for _ in range(3)]
    await eventually(lambda: len(receiver.delivered("/hook")) == 1)
    assert len(await service.store.dead_letters("outlet")) == 2
    assert await service.redrive("outlet") == 2
    await eventually(lambda: len(receiver.delivered("/hook")) == 3)
    assert ids(receiver.delivered("/hook")) == [published[2], published[0], published[1]]
    assert await service.store.dead_letters("outlet") == []
    assert await service.redrive("outlet") == 0


async def test_replay_from_a_time_queues_the_entitled_items_again_in_order(
        redis: Redis, registry: PartnerRegistry, services: Factory, receiver: Receiver) -> None:
    await register(registry, "outlet", receiver.url("/hook"), filters=Filters(languages=["en"]))
    service = await services()
    early = [f"msg_{await publish(redis, article())}" for _ in range(2)]
    await publish(redis, article(), language="fr")  # not for this partner
    await asyncio.sleep(0.01)
    middle = datetime.now(UTC)
    await asyncio.sleep(0.01)
    late = [f"msg_{await publish(redis, article())}" for _ in range(2)]
    await eventually(lambda: len(receiver.delivered("/hook")) == 4)
    assert ids(receiver.delivered("/hook")) == early + late

    assert await service.replay("outlet", middle) == 2
    await eventually(lambda: len(receiver.delivered("/hook")) == 6)
    assert await service.replay("outlet", middle - timedelta(minutes=5)) == 4
    await eventually(lambda: len(receiver.delivered("/hook")) == 10)
    assert ids(receiver.delivered("/hook")) == early + late + late + early + late


async def test_fan_out_is_once_per_item_follows_filters_and_sends_follow_ups_to_prior_recipients(
        redis: Redis, registry: PartnerRegistry, services: Factory, receiver: Receiver) -> None:
    await register(registry, "english", receiver.url("/en"), filters=Filters(languages=["en"]))
    await register(registry, "french", receiver.url("/fr"), filters=Filters(languages=["fr"]))
    service = await services()
    a = article()
    v1 = f"msg_{await publish(redis, a, 1, language='en')}"
    await eventually(lambda: len(receiver.delivered("/en")) == 1)
    # The English partner now wants French only; a new version and a kill of what it got still reach it.
    await registry.change("english", lambda p: msgspec.structs.replace(p, filters=Filters(languages=["fr"])),
                          actor="test", reason="filters", now=datetime.now(UTC))
    await asyncio.sleep(0.2)
    v2 = f"msg_{await publish(redis, a, 2, language='en')}"
    kill = f"msg_{await publish(redis, a, 3, language='en', pub_status='canceled')}"
    other = await publish(redis, article(), language="en")  # neither partner wants this one now
    await eventually(lambda: len(receiver.delivered("/en")) == 3)
    await asyncio.sleep(0.3)
    assert ids(receiver.delivered("/en")) == [v1, v2, kill]
    assert receiver.delivered("/fr") == []
    # A redelivered published entry does not queue the item twice.
    store = WebhookStore(redis)
    await store.enqueue_once(["english"], 0, other, a, 1)  # queued now, if it was not before
    assert await store.enqueue_once(["english"], 0, other, a, 1) == [None]
    assert await store.enqueue_once(["english"], 0, v1.removeprefix("msg_"), a, 1) == [None]
    assert await registry.received_earlier("english", a)
    assert service.tasks.keys() == {"english", "french"}


async def test_two_processes_never_deliver_for_the_same_partner_at_once(
        redis: Redis, registry: PartnerRegistry, services: Factory, receiver: Receiver) -> None:
    await register(registry, "outlet", receiver.url("/hook"))
    await services()
    await services()
    expected = [f"msg_{await publish(redis, article())}" for _ in range(30)]
    await eventually(lambda: len(receiver.delivered("/hook")) == 30)
    await asyncio.sleep(0.3)
    assert ids(receiver.requests) == expected


async def test_private_addresses_are_refused_at_registration_and_at_delivery(
        redis: Redis, registry: PartnerRegistry, services: Factory, receiver: Receiver) -> None:
    with pytest.raises(WebhookUrlRefused, match="private"):
        await check_webhook_url("http://192.168.1.20/hook", FAST.allow)
    with pytest.raises(WebhookUrlRefused, match="loopback"):
        await check_webhook_url(receiver.url("/hook"), frozenset())
    await check_webhook_url(receiver.url("/hook"), FAST.allow)

    # A loopback URL that got into the registry is still refused at delivery unless allowed.
    await register(registry, "sneaky", receiver.url("/hook"))
    strict = WebhookSettings(retry_schedule=(0.05,) * 3, jitter=0.0, allow=frozenset(), connect_timeout_s=1.0,
                             read_timeout_s=2.0, lease_s=10.0, idle_poll_s=0.05, registry_poll_s=0.05)
    service = await services(strict)
    await publish(redis, article())

    async def dead_lettered() -> bool:
        return len(await service.store.dead_letters("sneaky")) == 1

    await eventually(dead_lettered)
    assert receiver.requests == []
    assert all("loopback" in r.error for r in await service.deliveries("sneaky", 10))


async def test_a_paused_partner_keeps_its_queue_and_gets_it_on_resume(
        redis: Redis, registry: PartnerRegistry, services: Factory, receiver: Receiver) -> None:
    await register(registry, "outlet", receiver.url("/hook"))
    receiver.scripts["/hook"] = [503] * 10_000  # failing until the partner has been paused
    service = await services()
    queued = f"msg_{await publish(redis, article())}"

    async def failed_once() -> bool:
        return len(await service.deliveries("outlet", 10)) >= 1

    await eventually(failed_once)
    await registry.change("outlet", lambda p: msgspec.structs.replace(p, status="paused"), actor="test",
                          reason="pause", now=datetime.now(UTC))
    await eventually(lambda: service.partners["outlet"].status == "paused")
    await asyncio.sleep(0.2)  # an attempt that was under way when the pause landed has ended
    attempts = len(receiver.attempts("/hook"))
    await asyncio.sleep(0.5)  # ten retry steps of 50 ms: none is taken while paused
    assert len(receiver.attempts("/hook")) == attempts and receiver.delivered("/hook") == []
    receiver.scripts["/hook"].clear()
    await registry.change("outlet", lambda p: msgspec.structs.replace(p, status="active"), actor="test",
                          reason="resume", now=datetime.now(UTC))
    await eventually(lambda: len(receiver.delivered("/hook")) == 1)
    assert ids(receiver.delivered("/hook")) == [queued]
