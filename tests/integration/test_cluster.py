"""The event log on a real three-node cluster (the server binary in cluster mode, never a fake).

Partitions spread over the shards; every script and pipeline the wire runs against the log (filing,
later commands, the once-only writes with their acks, dead letters, reads of entries by id and the
enrich worker's catch-up, a worker reading with FastStream's cluster broker, credentials and the
partner registry) must work there: no command may touch keys of two hash slots.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import msgspec
import pytest
from faststream.redis import RedisClusterBroker
from redis import Redis as SyncRedis
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot

from schemas.codec import decode_event, encode_event
from schemas.events import ArticleEnriched, ArticleFiled, ArticleKilled, ArticlePublished
from schemas.partners import Filters
from schemas.streams import Group, Stream, idempotency_key, partition_of, stream_key
from services.enrich.app import ArchiveProjection
from services.enrich.core import new_enricher
from services.enrich.vocab_store import VocabProjection
from services.publish.core import build_item
from services.publish.partners import PartnerRegistry
from services.wire.credentials import Role, authenticate, issue, revoke
from services.wire.eventlog import EventLog, read_entries
from services.wire.redis_server import find_server_binary, free_port
from services.wire.settings import Settings
from services.wire.worker import StreamWorker
from tests.integration.test_worker import EchoHandler

PARTITIONS = 8
SLOTS = 16384


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[int]]:
    binary = find_server_binary()
    base = tmp_path_factory.mktemp("cluster")
    ports: list[int] = []
    nodes: list[subprocess.Popen[bytes]] = []
    try:
        for i in range(3):
            port = _cluster_port(ports)
            data = base / f"node{i}"
            data.mkdir()
            with open(data / "server.log", "ab") as log:
                nodes.append(subprocess.Popen(
                    [str(binary), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data),
                     "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000",
                     "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--protected-mode", "yes"],
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
            ports.append(port)
        clients = [_wait_for(port) for port in ports]
        for i, client in enumerate(clients):  # three equal slot ranges, then the nodes meet
            client.execute_command("CLUSTER", "ADDSLOTS", *range(i * SLOTS // 3, (i + 1) * SLOTS // 3))
        for port in ports[1:]:
            clients[0].execute_command("CLUSTER", "MEET", "127.0.0.1", port)
        deadline = time.monotonic() + 30
        while not all(_ready(client) for client in clients):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the cluster did not come up; see {base}")
            time.sleep(0.1)
        for client in clients:
            client.close()
        yield ports
    finally:
        for node in nodes:
            node.terminate()
        for node in nodes:
            node.wait(10)


def _cluster_port(taken: list[int]) -> int:
    """A free port whose cluster bus port (10,000 above it) is free too."""
    for _ in range(200):
        port = free_port()
        if port > 55535:
            port = 20000 + port % 30000
        if port in taken:
            continue
        try:
            for candidate in (port, port + 10000):
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                    sock.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port
    raise RuntimeError("no free pair of ports for a cluster node")


def _wait_for(port: int) -> SyncRedis:
    client = SyncRedis(port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            return client
        except Exception as exc:  # redis.ConnectionError while the server starts
            if time.monotonic() > deadline:
                raise RuntimeError(f"no server on port {port}") from exc
            time.sleep(0.02)


def _ready(client: SyncRedis) -> bool:
    info = client.execute_command("CLUSTER", "INFO")
    text = info.decode() if isinstance(info, bytes) else str(info)
    return "cluster_state:ok" in text and "cluster_known_nodes:3" in text


@pytest.fixture
async def redis(cluster: list[int]) -> AsyncIterator[RedisCluster]:
    client = RedisCluster(host="127.0.0.1", port=cluster[0])
    await client.initialize()
    await client.flushall(target_nodes=RedisCluster.PRIMARIES)
    try:
        yield client
    finally:
        await client.aclose()


def _filed(n: int) -> ArticleFiled:
    return ArticleFiled(
        event_id=str(uuid.uuid4()), article_id=f"urn:newswire:article:cluster-{n}", version=1,
        occurred_at=datetime.now(UTC), correlation_id="cluster", headline=f"Harbour story {n}",
        body_html="<p>The harbour in Aberdeen was closed on Monday as a storm reached Scotland.</p>",
    )


def test_the_partitions_spread_over_every_shard() -> None:
    thirds = {key_slot(stream_key(Stream.FILED, p).encode()) * 3 // SLOTS for p in range(PARTITIONS)}
    assert thirds == {0, 1, 2}  # otherwise the tests below would not cross shards


async def test_filing_commands_and_once_only_writes_work_on_a_cluster(redis: RedisCluster) -> None:
    eventlog = EventLog(redis, Settings(partitions=PARTITIONS))  # type: ignore[arg-type]
    stories = [_filed(n) for n in range(24)]
    filed_ids = {}
    for story in stories:
        key = idempotency_key(story.event_id, _partition(eventlog, story))
        code, entry_id = await eventlog.file(story, idempotency=(key, "fingerprint", b"{}", 60))
        assert code == 1
        filed_ids[story.article_id] = entry_id
    assert {_partition(eventlog, s) for s in stories} == set(range(PARTITIONS))

    killed = ArticleKilled(event_id=str(uuid.uuid4()), article_id=stories[0].article_id, version=2,
                           occurred_at=datetime.now(UTC), correlation_id="cluster", reason="filed in error",
                           category="error")
    assert (await eventlog.command(killed, seen_version=1, status="canceled"))[0] == 1
    assert (await eventlog.article_state(stories[0].article_id))["status"] == "canceled"

    await eventlog.ensure_groups(Stream.FILED, Group.ENRICH)
    calls, acks = [], []
    for p in eventlog.partitions():
        reply = await redis.xreadgroup(Group.ENRICH.value, "c1", {stream_key(Stream.FILED, p): ">"}, count=100)
        for entry_id, fields in (reply[0][1] if reply else []):
            event = decode_event(fields)
            if not isinstance(event, ArticleFiled):
                acks.append((stream_key(Stream.FILED, p), Group.ENRICH, entry_id.decode()))
                continue
            out = ArticleEnriched(event_id=str(uuid.uuid4()), article_id=event.article_id, version=1,
                                  occurred_at=datetime.now(UTC), correlation_id="cluster",
                                  source_event_id=event.event_id, source_entry_id=entry_id.decode())
            calls.append(eventlog.append_once_args(Group.ENRICH, p, source_event_id=event.event_id,
                                                   input_entry_id=entry_id.decode(), output=out,
                                                   out_stream=Stream.ENRICHED))
    first = await eventlog.run_append_once(calls, acks)  # one pipeline over every shard
    again = await eventlog.run_append_once(calls, [])
    assert len(first) == len(stories) and again == first  # once only: the same outputs, nothing new
    assert sum([await redis.xlen(stream_key(Stream.ENRICHED, p)) for p in eventlog.partitions()]) == len(stories)
    pending = [await redis.xpending(stream_key(Stream.FILED, p), Group.ENRICH.value) for p in eventlog.partitions()]
    assert sum(int(x["pending"]) for x in pending) == 0

    refs = [(stream_key(Stream.FILED, _partition(eventlog, s)), filed_ids[s.article_id]) for s in stories]
    entries = await read_entries(redis, refs)  # type: ignore[arg-type]
    assert {decode_event(fields).article_id for fields in entries.values()} == {s.article_id for s in stories}  # type: ignore[union-attr]

    story = stories[5]
    p = _partition(eventlog, story)
    await eventlog.ensure_groups(Stream.FILED, Group.LIFECYCLE)
    await redis.xreadgroup(Group.LIFECYCLE.value, "c1", {stream_key(Stream.FILED, p): ">"}, count=100)
    await eventlog.record_error(Group.LIFECYCLE, p, filed_ids[story.article_id], "kept failing")
    dead_id = await eventlog.dead_letter(Group.LIFECYCLE, p, filed_ids[story.article_id], deliveries=6)
    assert dead_id and (await eventlog.dead_letters(p))[0].error == "kept failing"


async def test_the_enrich_catch_up_reads_every_partition_on_a_cluster(redis: RedisCluster) -> None:
    enricher = new_enricher()
    archive = ArchiveProjection(redis, enricher, PARTITIONS)  # type: ignore[arg-type]
    vocab = VocabProjection(redis, enricher.vocabulary)  # type: ignore[arg-type]
    for n in range(PARTITIONS * 2):
        filed = _filed(100 + n)
        enriched = ArticleEnriched(event_id=str(uuid.uuid4()), article_id=filed.article_id, version=1,
                                   occurred_at=filed.occurred_at, correlation_id="cluster",
                                   source_event_id=filed.event_id, source_entry_id="0-1")
        published = ArticlePublished(event_id=str(uuid.uuid4()), article_id=filed.article_id, version=1,
                                     occurred_at=filed.occurred_at, correlation_id="cluster",
                                     source_event_id=enriched.event_id, item=build_item(filed, enriched))
        await redis.xadd(stream_key(Stream.PUBLISHED, n % PARTITIONS), encode_event(published))  # type: ignore[arg-type]
    async with redis.pipeline(transaction=False) as pipe:  # what EnrichHandler.before_batch does
        vocab.read_next(pipe)  # type: ignore[arg-type]
        archive.read_next(pipe)  # type: ignore[arg-type]
        replies = await pipe.execute()
    assert await vocab.apply_read(replies[0]) == 0
    applied, full = archive.apply_read(replies[1:])
    assert (applied, full) == (PARTITIONS * 2, False)
    assert len(enricher.index) == PARTITIONS * 2
    assert await archive.catch_up() == 0  # nothing new, and no multi-slot read on the way
    assert msgspec.json.encode(sorted(archive.positions)) == msgspec.json.encode(
        sorted(stream_key(Stream.PUBLISHED, p) for p in range(PARTITIONS)))


def _partition(eventlog: EventLog, story: ArticleFiled | ArticleEnriched) -> int:
    return partition_of(story.article_id, eventlog.settings.partitions)



async def test_credentials_and_the_partner_registry_work_on_a_cluster(redis: RedisCluster) -> None:
    secret = await issue(redis, Role.EDITOR, "desk")  # type: ignore[arg-type]
    found = await authenticate(redis, secret, frozenset({Role.EDITOR}))  # type: ignore[arg-type]
    assert found is not None and found.name == "desk"
    registry = PartnerRegistry(redis)  # type: ignore[arg-type]
    now = datetime.now(UTC)
    partner, token, _ = await registry.register("outlet", modes=["sse"], filters=Filters(), webhook_url=None,
                                                actor="test", now=now)
    assert partner.name == "outlet"
    assert (await authenticate(redis, token, frozenset({Role.PARTNER}))) is not None  # type: ignore[arg-type]
    changed = await registry.change("outlet", lambda p: msgspec.structs.replace(p, modes=["sse", "feed"]),
                                    actor="test", reason="more modes", now=now)
    assert changed.modes == ["sse", "feed"] and [p.name for p in await registry.all()] == ["outlet"]
    await registry.remove("outlet", actor="test", now=now)
    assert await registry.all() == []
    assert await revoke(redis, Role.EDITOR, "desk")  # type: ignore[arg-type]
    assert await authenticate(redis, secret, frozenset({Role.EDITOR})) is None  # type: ignore[arg-type]


async def test_a_worker_reads_every_partition_of_a_cluster_once(redis: RedisCluster, cluster: list[int]) -> None:
    settings = Settings(partitions=PARTITIONS, redis_url=f"redis://127.0.0.1:{cluster[0]}", consumer_name="cluster")
    eventlog = EventLog(redis, settings)  # type: ignore[arg-type]
    broker = RedisClusterBroker(settings.redis_url, logger=None, apply_types=False)  # type: ignore[arg-type]
    worker = StreamWorker(eventlog, EchoHandler(eventlog), settings, broker=broker)
    stories = [_filed(200 + n) for n in range(32)]
    await worker.start()
    try:
        for story in stories:
            await redis.xadd(eventlog.stream_for(Stream.FILED, story.article_id), encode_event(story))  # type: ignore[arg-type]

        async def enriched() -> int:
            return sum([await redis.xlen(stream_key(Stream.ENRICHED, p)) for p in range(PARTITIONS)])

        deadline = time.monotonic() + 20
        while await enriched() < len(stories) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    finally:
        await worker.stop()
    assert await enriched() == len(stories)
    sources = set()
    for p in range(PARTITIONS):
        for _, fields in await redis.xrange(stream_key(Stream.ENRICHED, p)):
            event = decode_event(fields)
            assert isinstance(event, ArticleEnriched) and _partition(eventlog, event) == p  # type: ignore[arg-type]
            sources.add(event.source_event_id)
    assert sources == {s.event_id for s in stories}
    pending = [await redis.xpending(stream_key(Stream.FILED, p), Group.ENRICH.value) for p in range(PARTITIONS)]
    assert sum(int(x["pending"]) for x in pending) == 0
    # What a killed worker leaves goes from every partition, whichever node holds its stream.
    for p in range(PARTITIONS):
        await redis.xgroup_createconsumer(stream_key(Stream.FILED, p), Group.ENRICH.value, f"enrich-killed-{p}")
    await asyncio.sleep(0.3)
    assert await worker.forget_gone_consumers(0.2) == sorted(f"enrich-killed-{p}" for p in range(PARTITIONS))
